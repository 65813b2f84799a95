"""The decision log in PostgreSQL (psycopg 3): the same columns as SQLite, JSONB for the structured ones.

The DSN comes from the environment variable named by `store.dsn_env` (a secret: never in the config file).
Install with `pip install 'pointsman[postgres]'`.
"""

from __future__ import annotations

import os

from pointsman.store.decisions import (
    ADDED_COLUMNS,
    COLUMNS,
    JSON_COLUMNS,
    SCHEMA_VERSION,
    DecisionLog,
    DecisionRecord,
    time_range,
)
from pointsman.store.feedback import FEEDBACK_COLUMNS, DuplicateFeedback, FeedbackRecord

_TYPES = {
    "time": "DOUBLE PRECISION NOT NULL",
    "status": "INTEGER NOT NULL",
    "probability": "DOUBLE PRECISION NOT NULL",
    "stream": "BOOLEAN NOT NULL",
    "first_byte_s": "DOUBLE PRECISION",
    "total_s": "DOUBLE PRECISION",
    "prompt_tokens": "INTEGER",
    "completion_tokens": "INTEGER",
    "cost_usd": "DOUBLE PRECISION",
    **{c: "JSONB" for c in JSON_COLUMNS},
}
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS decisions (\n  "
    + ",\n  ".join(
        f"{c} {_TYPES.get(c, 'TEXT')}" + (" PRIMARY KEY" if c == "request_id" else "") for c in COLUMNS
    )
    + "\n)",
    "CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time)",
    "CREATE TABLE IF NOT EXISTS pointsman_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS feedback (\n"
    "  request_id TEXT NOT NULL, time DOUBLE PRECISION NOT NULL, score DOUBLE PRECISION NOT NULL,\n"
    "  kind TEXT NOT NULL, labels JSONB, comment TEXT, tenant TEXT, api_key_id TEXT,\n"
    "  PRIMARY KEY (request_id, kind)\n"
    ")",
    "CREATE INDEX IF NOT EXISTS feedback_time ON feedback (time)",
]
_FEEDBACK = (
    f"INSERT INTO feedback ({', '.join(FEEDBACK_COLUMNS)}) "
    f"VALUES ({', '.join('%s::jsonb' if c == 'labels' else '%s' for c in FEEDBACK_COLUMNS)}) "
    "ON CONFLICT (request_id, kind) DO "
)
_SELECT_FEEDBACK = f"SELECT {', '.join(FEEDBACK_COLUMNS)} FROM feedback"
_PLACEHOLDERS = ", ".join("%s::jsonb" if c in JSON_COLUMNS else "%s" for c in COLUMNS)
_INSERT = (
    f"INSERT INTO decisions ({', '.join(COLUMNS)}) VALUES ({_PLACEHOLDERS}) "
    "ON CONFLICT (request_id) DO NOTHING"
)
_STREAM = COLUMNS.index("stream")


class PostgresLog(DecisionLog):
    _db = None  # psycopg.Connection

    @property
    def dsn(self) -> str:
        dsn = os.environ.get(self.config.dsn_env)
        if not dsn:
            raise RuntimeError(
                f"store.kind is postgres but the environment variable {self.config.dsn_env} (store.dsn_env) "
                "is not set; set it to a DSN such as postgresql://user:pass@host:5432/db"
            )
        return dsn

    def _connect(self):
        try:
            import psycopg
        except ImportError:
            raise RuntimeError(
                "the postgres store needs psycopg 3: pip install 'pointsman[postgres]'"
            ) from None
        return psycopg.connect(self.dsn, autocommit=False)

    def open(self) -> None:
        db = self._connect()
        with db.transaction():
            for stmt in SCHEMA:
                db.execute(stmt)
            row = db.execute("SELECT value FROM pointsman_meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                db.execute("INSERT INTO pointsman_meta VALUES ('schema_version', %s)", (str(SCHEMA_VERSION),))
            else:
                _migrate(db, row[0])
        db.commit()
        self._db = db

    def write(self, rows: list[tuple]) -> None:
        if self._db is None or self._db.closed:  # reconnect after a lost connection
            self._db = self._connect()
        rows = [(*r[:_STREAM], bool(r[_STREAM]), *r[_STREAM + 1 :]) for r in rows]
        try:
            with self._db.transaction(), self._db.cursor() as cur:
                cur.executemany(_INSERT, rows)
        except Exception:
            self._db.close()
            raise
        self._db.commit()

    def shutdown(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def recent(self, limit: int = 100) -> list[DecisionRecord]:
        import psycopg

        with psycopg.connect(self.dsn) as db:
            rows = db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM decisions ORDER BY time DESC LIMIT %s", (limit,)
            ).fetchall()
        return [DecisionRecord.from_row(r) for r in rows]

    def find(self, request_id: str) -> DecisionRecord | None:
        import psycopg

        with psycopg.connect(self.dsn) as db:
            row = db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM decisions WHERE request_id = %s", (request_id,)
            ).fetchone()
        return DecisionRecord.from_row(row) if row is not None else None

    def write_feedback(self, rows: list[tuple]) -> None:
        if self._db is None or self._db.closed:
            self._db = self._connect()
        try:
            with self._db.transaction(), self._db.cursor() as cur:
                cur.executemany(_FEEDBACK + "NOTHING", rows)
        except Exception:
            self._db.close()
            raise
        self._db.commit()

    def add_feedback(self, record: FeedbackRecord, *, replace: bool = False) -> bool:
        import psycopg

        update = ", ".join(f"{c} = EXCLUDED.{c}" for c in FEEDBACK_COLUMNS[1:])
        with psycopg.connect(self.dsn) as db, db.transaction():
            # The row lock (FOR UPDATE) makes check-then-write one step against a concurrent replace.
            found = db.execute(
                "SELECT 1 FROM feedback WHERE request_id = %s AND kind = %s FOR UPDATE",
                (record.request_id, record.kind),
            ).fetchone()
            if found and not replace:
                raise DuplicateFeedback(record.request_id, record.kind)
            conflict = "UPDATE SET " + update if replace else "NOTHING"
            inserted = db.execute(_FEEDBACK + conflict, record.row())
            if not replace and inserted.rowcount == 0:  # a concurrent first score won
                raise DuplicateFeedback(record.request_id, record.kind)
        return found is not None

    def feedback(
        self, since: float | None = None, until: float | None = None, limit: int | None = None
    ) -> list[FeedbackRecord]:
        import psycopg

        where, params = time_range(since, until)
        sql = _SELECT_FEEDBACK + where.replace("?", "%s") + " ORDER BY time, request_id"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with psycopg.connect(self.dsn) as db:
            rows = db.execute(sql, params).fetchall()
        return [FeedbackRecord.from_row(r) for r in rows]


def _migrate(db, found: str) -> None:
    """Bring an older decision log up to SCHEMA_VERSION (add the columns later versions have)."""
    version = int(found) if found.isdigit() else -1
    if not 1 <= version <= SCHEMA_VERSION:
        raise RuntimeError(f"decision log schema version {found}, this pointsman writes {SCHEMA_VERSION}")
    for v in range(version + 1, SCHEMA_VERSION + 1):
        for column in ADDED_COLUMNS.get(v, ()):
            db.execute(
                f"ALTER TABLE decisions ADD COLUMN IF NOT EXISTS {column} {_TYPES.get(column, 'TEXT')}"
            )
    db.execute("UPDATE pointsman_meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
