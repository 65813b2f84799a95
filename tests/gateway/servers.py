"""Helpers for gateway tests: a local upstream on its own loop, test backends, the decision log."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any, Callable

from pointsman.testing.upstreams import UpstreamServer


class UpstreamThread:
    """An UpstreamServer running on its own loop in a daemon thread (the gateway has its own loop)."""

    def __init__(self, **kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server: UpstreamServer = self.call(UpstreamServer(**kwargs).start())

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def sync(self, fn: Callable[[], Any]) -> Any:
        async def run() -> Any:
            return fn()

        return self.call(run())

    @property
    def url(self) -> str:
        return self.server.url + "/v1"

    def inject(self, fault: str, times: int = 1) -> None:
        self.sync(lambda: self.server.inject(fault, times))

    def set_fault(self, fault: str | None) -> None:
        from pointsman.testing.faults import Fault

        self.sync(lambda: setattr(self.server, "fault", Fault.parse(fault) if fault else None))

    def reset(self) -> None:
        self.sync(self.server.reset)

    def requests(self) -> list:
        return self.sync(lambda: list(self.server.chat_requests()))

    def close(self) -> None:
        self.call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def backends_yaml(ups: list[UpstreamThread], **extra: Any) -> list[dict]:
    """Backends m0, m1, m2 on the three upstreams, fast timeouts and breakers for tests."""
    out = []
    for i, up in enumerate(ups):
        out.append(
            {
                "name": f"m{i}",
                "kind": "openai",
                "base_url": up.url,
                "model": f"upstream-m{i}",
                "input_price": float(i + 1),
                "output_price": float(2 * (i + 1)),
                "context_window": 4096,
                "timeouts": {"connect": 1, "first_byte": 2, "idle": 1, "total": 10},
                "retry": {"attempts": 1, "backoff": 0.01},
                "breaker": {"failures": 3, "cooldown": 0.5},
                **extra,
            }
        )
    return out


def wait_for_rows(gw, n: int, timeout: float = 5.0) -> list:
    """The decision log's rows once at least `n` are written (the writer batches off the request path)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = gw.gateway.log.recent(1000)
        if len(rows) >= n or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def until(check: Callable[[], Any], timeout: float = 10.0) -> None:
    """Wait until `check()` is true (what a background task does), failing the test after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)
