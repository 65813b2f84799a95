"""The decision log in SQLite (the default): one file, WAL mode, batched inserts from the writer thread."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from pointsman.store.decisions import (
    ADDED_COLUMNS,
    COLUMNS,
    SCHEMA_VERSION,
    DecisionLog,
    DecisionRecord,
    time_range,
)
from pointsman.store.feedback import FEEDBACK_COLUMNS, DuplicateFeedback, FeedbackRecord

_TYPES = {
    "time": "REAL NOT NULL",
    "status": "INTEGER NOT NULL",
    "probability": "REAL NOT NULL",
    "stream": "INTEGER NOT NULL",
    "first_byte_s": "REAL",
    "total_s": "REAL",
    "prompt_tokens": "INTEGER",
    "completion_tokens": "INTEGER",
    "cost_usd": "REAL",
}
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS decisions (\n  "
    + ",\n  ".join(
        f"{c} {_TYPES.get(c, 'TEXT')}" + (" PRIMARY KEY" if c == "request_id" else "") for c in COLUMNS
    )
    + "\n);\n"
    "CREATE INDEX IF NOT EXISTS decisions_time ON decisions (time);\n"
    "CREATE TABLE IF NOT EXISTS pointsman_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);\n"
    "CREATE TABLE IF NOT EXISTS feedback (\n"
    "  request_id TEXT NOT NULL, time REAL NOT NULL, score REAL NOT NULL, kind TEXT NOT NULL, labels TEXT,\n"
    "  comment TEXT, tenant TEXT, api_key_id TEXT, PRIMARY KEY (request_id, kind)\n"
    ");\n"
    "CREATE INDEX IF NOT EXISTS feedback_time ON feedback (time);\n"
)
_FEEDBACK = f"INTO feedback ({', '.join(FEEDBACK_COLUMNS)}) VALUES ({', '.join('?' * len(FEEDBACK_COLUMNS))})"
_INSERT = f"INSERT OR IGNORE INTO decisions ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


class SQLiteLog(DecisionLog):
    _db: sqlite3.Connection | None = None

    @property
    def path(self) -> Path:
        return Path(self.config.path)

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The writer thread owns the connection after start(); readers open their own (WAL allows both).
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        _check_version(db, self.path)
        self._db = db

    def write(self, rows: list[tuple]) -> None:
        assert self._db is not None
        with self._db:  # one transaction per batch
            self._db.execute("BEGIN")
            self._db.executemany(_INSERT, rows)

    def shutdown(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def recent(self, limit: int = 100) -> list[DecisionRecord]:
        with sqlite3.connect(self.path) as db:
            rows = db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM decisions ORDER BY time DESC, rowid DESC LIMIT ?", (limit,)
            ).fetchall()
        return [DecisionRecord.from_row(r) for r in rows]

    def find(self, request_id: str) -> DecisionRecord | None:
        with sqlite3.connect(self.path) as db:
            row = db.execute(
                f"SELECT {', '.join(COLUMNS)} FROM decisions WHERE request_id = ?", (request_id,)
            ).fetchone()
        return DecisionRecord.from_row(row) if row is not None else None

    def write_feedback(self, rows: list[tuple]) -> None:
        assert self._db is not None
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR IGNORE " + _FEEDBACK, rows)

    def add_feedback(self, record: FeedbackRecord, *, replace: bool = False) -> bool:
        db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        try:
            db.execute("BEGIN IMMEDIATE")  # the check and the write in one transaction
            found = db.execute(
                "SELECT 1 FROM feedback WHERE request_id = ? AND kind = ?", (record.request_id, record.kind)
            ).fetchone()
            if found and not replace:
                db.execute("ROLLBACK")
                raise DuplicateFeedback(record.request_id, record.kind)
            db.execute("INSERT OR REPLACE " + _FEEDBACK, record.row())
            db.execute("COMMIT")
            return found is not None
        finally:
            db.close()

    def feedback(
        self, since: float | None = None, until: float | None = None, limit: int | None = None
    ) -> list[FeedbackRecord]:
        where, params = time_range(since, until)
        sql = f"SELECT {', '.join(FEEDBACK_COLUMNS)} FROM feedback{where} ORDER BY time, rowid"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with sqlite3.connect(self.path) as db:
            rows = db.execute(sql, params).fetchall()
        return [FeedbackRecord.from_row(r) for r in rows]


def _check_version(db: sqlite3.Connection, path: Path) -> None:
    row = db.execute("SELECT value FROM pointsman_meta WHERE key = 'schema_version'").fetchone()
    if row is None:
        db.execute("INSERT INTO pointsman_meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return
    version = int(row[0]) if row[0].isdigit() else -1
    if not 1 <= version <= SCHEMA_VERSION:
        raise RuntimeError(
            f"{path}: decision log schema version {row[0]}, this pointsman writes {SCHEMA_VERSION}"
        )
    have = {row[1] for row in db.execute("PRAGMA table_info(decisions)")}
    for v in range(version + 1, SCHEMA_VERSION + 1):  # an older log: add the columns later versions have
        for column in ADDED_COLUMNS.get(v, ()):
            if column not in have:
                db.execute(f"ALTER TABLE decisions ADD COLUMN {column} {_TYPES.get(column, 'TEXT')}")
    db.execute("UPDATE pointsman_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
