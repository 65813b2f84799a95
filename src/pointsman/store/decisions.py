"""The decision log: one row per request, written in batches by a background thread.

`DecisionLog.put(record)` costs a deque append on the request path; a writer thread wakes every
`flush_interval` seconds and writes what is pending in transactions of up to `batch_size` records. Stores:
SQLite (default, WAL) and PostgreSQL (psycopg 3); both have the same columns (docs/gateway.md, "Decision
log").

Message content is never in a record unless the store is configured with `log_content`; then the record also
carries `prompt_hash` (SHA-256 of the canonical JSON of the messages) so traffic can be replayed and
de-duplicated. What a guard removed never is: a blocked request has no content, a redacted one only its
placeholders. The signals a decision computed are logged by value (labels, numbers, PII span types).
"""

from __future__ import annotations

import hashlib
import logging
import operator
import itertools
import threading
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field, fields
from typing import Any, Sequence

import orjson

from pointsman.config.gateway import StoreConfig
from pointsman.store.feedback import FeedbackRecord

log = logging.getLogger("pointsman.store")

SCHEMA_VERSION = 5  # 3: client ids, trace context, error detail; 4: the feedback table and context; 5: cascade
# Columns stored as JSON text (SQLite) / JSONB (Postgres).
JSON_COLUMNS = ("candidates", "fallbacks", "content", "signals", "context", "cascade")
# Columns each schema version added (appended to the table when an older log is opened).
ADDED_COLUMNS = {
    2: ("decision", "action", "signals"),
    3: ("client_request_id", "traceparent", "error_detail"),
    4: ("context",),
    5: ("cascade",),
}


@dataclass(slots=True)
class DecisionRecord:
    request_id: str
    time: float  # unix seconds at arrival
    requested_model: str
    route: str  # profile name, "direct", or "" when the request failed before a decision
    status: int  # the HTTP status the client got (200 also for a stream that failed mid-way: see error_code)
    tenant: str | None = None
    api_key_id: str | None = None
    rule: str | None = None
    reason: str | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)  # [{"model", "quality", "cost"}], ranked
    chosen_model: str | None = None  # the policy's first choice
    served_model: str | None = None  # the model that answered (differs after a fallback)
    probability: float = 1.0  # P(policy chose chosen_model); 1.0 for deterministic choices
    fallbacks: list[dict[str, Any]] = field(default_factory=list)  # attempts that did not answer
    stream: bool = False
    first_byte_s: float | None = None
    total_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    error_code: str | None = None
    prompt_hash: str | None = None
    content: dict[str, Any] | None = None  # {"messages": [...], "response": "..."} when log_content
    decision: str | None = None  # the rule that decided, or default / profile / direct / threshold
    action: str | None = None  # route | block | redact | divert
    signals: dict[str, Any] | None = None  # {name: {"value", "confidence", "ms"}}: labels and numbers only
    client_request_id: str | None = None  # the client's own x-request-id (or x-client-request-id)
    traceparent: str | None = None  # the client's W3C trace context
    error_detail: str | None = None  # the upstream's own words for a failure (clients get a safe message)
    context: dict[str, Any] | None = None  # what a learning selector saw (reduced embedding, prior): numbers
    cascade: dict[str, Any] | None = None  # a cascade profile's steps: model, outcome, score, cost, seconds

    def row(self) -> tuple:
        """Values in COLUMNS order, JSON columns as text (one C-level attrgetter, not dataclasses.asdict, which
        deep-copies: this runs in the writer thread, holding the GIL the request path needs)."""
        values = list(_GET_COLUMNS(self))
        for i in _JSON_INDEXES:
            if values[i] is not None:
                values[i] = orjson.dumps(values[i]).decode()
        values[_STREAM_INDEX] = int(values[_STREAM_INDEX])
        return tuple(values)

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> DecisionRecord:
        values = dict(zip(COLUMNS, row, strict=True))
        for c in JSON_COLUMNS:
            v = values[c]
            if isinstance(v, (str, bytes)):
                values[c] = orjson.loads(v)
        values["stream"] = bool(values["stream"])
        return cls(**values)


COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(DecisionRecord))
_GET_COLUMNS = operator.attrgetter(*COLUMNS)
_JSON_INDEXES = tuple(COLUMNS.index(c) for c in JSON_COLUMNS)
_STREAM_INDEX = COLUMNS.index("stream")


def prompt_hash(messages: Any) -> str:
    """SHA-256 of the messages' canonical JSON (sorted keys): equal conversations hash equally."""
    return hashlib.sha256(orjson.dumps(messages, option=orjson.OPT_SORT_KEYS)).hexdigest()


class DecisionLog(ABC):
    """A store with a batching writer thread: `start()` once, `put()` per request, `close()` at exit."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self.written = 0
        self.dropped = 0
        # A deque, not a queue.Queue: appends take no lock and wake nobody. The writer thread sleeps
        # `flush_interval` between flushes instead of waking per record and contending for the GIL.
        self._pending: deque[DecisionRecord] = deque()
        self._writing: list[DecisionRecord] = []  # the batch being written (still found by `decision()`)
        self._pending_feedback: deque[FeedbackRecord] = deque()  # implicit signals from the request path
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def log_content(self) -> bool:
        return self.config.log_content

    def start(self) -> None:
        self.open()
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="pointsman-decision-log", daemon=True)
        self._thread.start()

    def put(self, record: DecisionRecord) -> None:
        if len(self._pending) >= self.config.max_queue:
            self.dropped += 1
        else:
            self._pending.append(record)

    def put_feedback(self, record: FeedbackRecord) -> None:
        """Queue an implicit signal (the writer thread writes it; a score of that kind already there wins)."""
        if len(self._pending_feedback) >= self.config.max_queue:
            self.dropped += 1
        else:
            self._pending_feedback.append(record)

    def decision(self, request_id: str) -> DecisionRecord | None:
        """The logged decision for `request_id`, also while it still waits to be written (a client may send
        feedback right after its answer). Blocking: call from a worker thread."""
        # A record moves pending -> writing -> store; looking in that order cannot miss it.
        for record in itertools.chain(reversed(list(self._pending)), list(self._writing)):
            if record.request_id == request_id:
                return record
        return self.find(request_id)

    def close(self) -> None:
        """Write everything queued, then release the store."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
        self.shutdown()

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            stopping = self._stop.wait(self.config.flush_interval)
            while self._pending:
                batch = list(itertools.islice(self._pending, self.config.batch_size))
                self._writing = batch  # before popping, so `decision()` always finds a record somewhere
                for _ in batch:
                    self._pending.popleft()
                self._flush(batch)
                self._writing = []
            while self._pending_feedback:
                n = min(len(self._pending_feedback), self.config.batch_size)
                rows = [self._pending_feedback.popleft().row() for _ in range(n)]
                try:
                    self.write_feedback(rows)
                except Exception:
                    self.dropped += len(rows)
                    log.exception("decision log: could not write %d feedback records", len(rows))

    def _flush(self, batch: list[DecisionRecord]) -> None:
        try:
            self.write([r.row() for r in batch])
            self.written += len(batch)
        except Exception:  # the log must never take the gateway down; the loss is counted and logged
            self.dropped += len(batch)
            log.exception("decision log: could not write %d records", len(batch))

    # -- per store ------------------------------------------------------------------------------------

    @abstractmethod
    def open(self) -> None:
        """Connect and create the schema if missing."""

    @abstractmethod
    def write(self, rows: list[tuple]) -> None:
        """Insert rows (in COLUMNS order) in one transaction. Runs in the writer thread."""

    @abstractmethod
    def shutdown(self) -> None: ...

    @abstractmethod
    def recent(self, limit: int = 100) -> list[DecisionRecord]:
        """The last `limit` records, newest first (tests, `pointsman` tooling)."""

    @abstractmethod
    def find(self, request_id: str) -> DecisionRecord | None:
        """The stored decision for `request_id` (what is written only; see `decision`)."""

    @abstractmethod
    def write_feedback(self, rows: list[tuple]) -> None:
        """Insert feedback rows, keeping any score already stored for a (request, kind). Writer thread."""

    @abstractmethod
    def add_feedback(self, record: FeedbackRecord, *, replace: bool = False) -> bool:
        """Store one score now; raises DuplicateFeedback when the request has one of this kind and not
        `replace`. Returns whether it replaced one. Blocking."""

    @abstractmethod
    def feedback(
        self, since: float | None = None, until: float | None = None, limit: int | None = None
    ) -> list[FeedbackRecord]:
        """Feedback with since <= time < until, oldest first, at most `limit`."""


class NullLog(DecisionLog):
    """`store: {kind: none}`: decisions are not recorded."""

    def start(self) -> None:
        pass

    def put(self, record: DecisionRecord) -> None:
        pass

    def open(self) -> None:
        pass

    def write(self, rows: list[tuple]) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def recent(self, limit: int = 100) -> list[DecisionRecord]:
        return []

    def put_feedback(self, record: FeedbackRecord) -> None:
        pass

    def find(self, request_id: str) -> DecisionRecord | None:
        return None

    def write_feedback(self, rows: list[tuple]) -> None:
        pass

    def add_feedback(self, record: FeedbackRecord, *, replace: bool = False) -> bool:
        raise RuntimeError("the decision log is off (store.kind: none): feedback cannot be stored")

    def feedback(
        self, since: float | None = None, until: float | None = None, limit: int | None = None
    ) -> list[FeedbackRecord]:
        return []


def time_range(since: float | None, until: float | None) -> tuple[str, list[float]]:
    """A WHERE clause on `time` (with `?` placeholders) and its parameters."""
    clauses, params = [], []
    if since is not None:
        clauses.append("time >= ?")
        params.append(since)
    if until is not None:
        clauses.append("time < ?")
        params.append(until)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def open_log(config: StoreConfig) -> DecisionLog:
    """The configured store (not yet started)."""
    if config.kind == "sqlite":
        from pointsman.store.sqlite import SQLiteLog

        return SQLiteLog(config)
    if config.kind == "postgres":
        from pointsman.store.postgres import PostgresLog

        return PostgresLog(config)
    return NullLog(config)
