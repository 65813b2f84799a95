"""Faults a test upstream can inject into a response, and their compact text form.

The text form (`"status=429,retry_after=0.5"`, `"reset"`, `"die_after=3"`) travels in an `x-fault` request
header, in the request body's `metadata.fault`, on the command line (`--fault`) or over the control API, so a
test can break one request, the next N requests, or every request of a server.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Fault:
    """What goes wrong with a response. Fields combine: e.g. a slow first byte then death after 2 chunks.

    status: answer with this HTTP error status (e.g. 500, 429, 503) and the API's error body.
    retry_after: seconds, sent as a Retry-After header with the error status.
    reset: abort the connection with a TCP reset instead of answering.
    hang: never answer (until the client gives up and closes the connection).
    first_byte_delay: seconds before the response head is sent.
    chunk_delay: seconds between streamed events (a slow stream).
    die_after: streaming: abort the connection after this many events (death mid-stream).
    garbage: answer 200 with a body that is not the API's JSON (or SSE lines that are not JSON).
    """

    status: int | None = None
    retry_after: float | None = None
    reset: bool = False
    hang: bool = False
    first_byte_delay: float = 0.0
    chunk_delay: float = 0.0
    die_after: int | None = None
    garbage: bool = False

    @property
    def is_async(self) -> bool:
        """Whether answering needs to wait (delays, hangs) rather than write at once."""
        return self.hang or self.first_byte_delay > 0 or self.chunk_delay > 0

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """`"status=500"`, `"500"` (a bare status), `"reset"`, `"status=429,retry_after=1"`, ..."""
        values: dict[str, object] = {}
        kinds = {f.name: f.type for f in fields(cls)}
        for token in filter(None, (t.strip() for t in spec.split(","))):
            name, sep, raw = token.partition("=")
            name = name.strip().replace("-", "_")
            if not sep and name.isdigit():
                name, raw = "status", name
            if name not in kinds:
                raise ValueError(f"fault {spec!r}: unknown field {name!r}; known: {', '.join(kinds)}")
            kind = str(kinds[name])
            try:
                if kind == "bool":
                    values[name] = raw.strip().lower() not in ("0", "false", "no") if sep else True
                elif "int" in kind:
                    values[name] = int(raw)
                else:
                    values[name] = float(raw)
            except ValueError:
                raise ValueError(f"fault {spec!r}: {name} needs a number, got {raw!r}") from None
        return cls(**values)  # type: ignore[arg-type]

    def __str__(self) -> str:
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            parts.append(f.name if value is True else f"{f.name}={value}")
        return ",".join(parts) or "none"
