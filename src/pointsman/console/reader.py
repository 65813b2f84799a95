"""Read the decision log for the console: records in a time window, filtered in SQL (SQLite or PostgreSQL).

The writer thread owns the store's own connection; every read here opens its own (SQLite's WAL lets readers
and the writer work at once). Reads block: callers run them in a worker thread.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from pointsman.store.decisions import COLUMNS, DecisionLog, DecisionRecord

# The most records one view aggregates (the newest in the window); the API says when it cut.
MAX_RECORDS = 50_000


@dataclass(frozen=True, slots=True)
class Filter:
    """Which decisions a view reads. None: no condition on that column."""

    since: float | None = None
    until: float | None = None
    tenant: str | None = None
    route: str | None = None
    model: str | None = None  # the served model, or the chosen one when none served
    action: str | None = None
    status: int | None = None

    def where(self, mark: str) -> tuple[str, list]:
        """A WHERE clause (`mark` is the driver's placeholder) and its parameters."""
        terms: list[str] = []
        args: list = []
        for column, op, value in (
            ("time", ">=", self.since),
            ("time", "<", self.until),
            ("tenant", "=", self.tenant),
            ("route", "=", self.route),
            ("action", "=", self.action),
            ("status", "=", self.status),
        ):
            if value is not None:
                terms.append(f"{column} {op} {mark}")
                args.append(value)
        if self.model is not None:
            terms.append(f"COALESCE(served_model, chosen_model) = {mark}")
            args.append(self.model)
        return (" WHERE " + " AND ".join(terms)) if terms else "", args


def read(log: DecisionLog, where: Filter, limit: int = MAX_RECORDS) -> list[DecisionRecord]:
    """The newest `limit` records matching `where`, newest first ([] for a store that keeps none)."""
    mark = _mark(log)
    if mark is None:
        return []
    clause, args = where.where(mark)
    sql = f"SELECT {', '.join(COLUMNS)} FROM decisions{clause} ORDER BY time DESC LIMIT {int(limit)}"
    return [DecisionRecord.from_row(r) for r in _fetch(log, sql, args)]


def one(log: DecisionLog, request_id: str, tenant: str | None = None) -> DecisionRecord | None:
    """One record by request id (None if missing, or another tenant's when `tenant` is given)."""
    mark = _mark(log)
    if mark is None:
        return None
    sql = f"SELECT {', '.join(COLUMNS)} FROM decisions WHERE request_id = {mark}"
    args: list = [request_id]
    if tenant is not None:
        sql += f" AND tenant = {mark}"
        args.append(tenant)
    rows = _fetch(log, sql, args)
    return DecisionRecord.from_row(rows[0]) if rows else None


def _mark(log: DecisionLog) -> str | None:
    kind = log.config.kind
    return "?" if kind == "sqlite" else "%s" if kind == "postgres" else None


def _fetch(log: DecisionLog, sql: str, args: list) -> list[tuple]:
    if log.config.kind == "sqlite":
        path = log.path
        if not path.exists():
            return []
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            return db.execute(sql, args).fetchall()
    import psycopg

    with psycopg.connect(log.dsn) as db:
        return db.execute(sql, args).fetchall()
