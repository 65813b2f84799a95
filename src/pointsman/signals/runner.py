"""Compute the signals a decision needs: lazily, concurrently, each within its own time budget, cached.

- Only the named signals run. Heuristics (`inline`) run in the caller's thread: they cost microseconds,
  less than handing them to a thread. So do embedding signals once the embedding exists (a small matrix
  product; a thread hand-off on a busy core costs more). The rest go to a thread pool and run
  concurrently: the embedding (ONNX releases the GIL) and the signals waiting for it, and signals that
  are not inline and need no embedding.
- The request embedding is computed at most once per request (`RequestView.ensure_embedding`), and only
  when a signal that needs it runs; the router and the cache read the same vector from the view.
- A pooled signal that misses its deadline yields an error result and the request goes on; if it
  finishes later, its result still fills the cache, so the next identical request gets it for free.
- Results are cached per signal by `Signal.cache_key(view)` in a small LRU.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass, replace
from typing import Any, Callable, Hashable

from pointsman.signals.base import RequestView, Signal, SignalResult

#: Extra time a signal that needs the embedding is given when the embedding is not computed yet.
DEFAULT_EMBEDDING_BUDGET_MS = 100.0


class UnknownSignalError(KeyError):
    """A rule or caller named a signal that is not configured."""

    def __str__(self) -> str:
        return str(self.args[0])


class ResultCache:
    """A thread-safe LRU of signal results, keyed by (signal name, cache key)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._data: OrderedDict[tuple[str, Hashable], SignalResult] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, name: str, key: Hashable) -> SignalResult | None:
        with self._lock:
            result = self._data.get((name, key))
            if result is None:
                self.misses += 1
                return None
            self._data.move_to_end((name, key))
            self.hits += 1
            return result

    def put(self, name: str, key: Hashable, result: SignalResult) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._data[(name, key)] = result
            self._data.move_to_end((name, key))
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


@dataclass
class SignalResults(Mapping[str, SignalResult]):
    """name -> SignalResult for one request, plus the run's wall time and whether it embedded."""

    results: dict[str, SignalResult]
    total_ms: float = 0.0
    embedded: bool = False

    def __getitem__(self, name: str) -> SignalResult:
        return self.results[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.results)

    def __len__(self) -> int:
        return len(self.results)

    def value(self, name: str, default: Any = None) -> Any:
        result = self.results.get(name)
        return default if result is None or not result.ok else result.value


@dataclass
class _Pending:
    signal: Signal
    key: Hashable | None
    future: Future[SignalResult]
    deadline: float  # time.perf_counter() seconds


class SignalRunner:
    """Runs configured signals for requests. One per gateway (or per config); safe to share across threads.

    `encoder` is a `pointsman.text.Encoder`, or a zero-argument callable returning one (called once, on
    the first request that needs an embedding); by default `pointsman.text.get_encoder`.
    """

    def __init__(
        self,
        signals: Mapping[str, Signal] | Iterable[Signal],
        *,
        encoder: Any | Callable[[], Any] | None = None,
        cache_size: int = 4096,
        max_workers: int = 4,
        embedding_budget_ms: float = DEFAULT_EMBEDDING_BUDGET_MS,
    ) -> None:
        items = signals.values() if isinstance(signals, Mapping) else signals
        self.signals: dict[str, Signal] = {}
        for signal in items:
            if signal.name in self.signals:
                raise ValueError(f"two signals are named {signal.name!r}")
            self.signals[signal.name] = signal
        self.cache = ResultCache(cache_size)
        self.embedding_budget_ms = embedding_budget_ms
        self._encoder_source = encoder
        self._encoder: Any = None
        self._encoder_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="pointsman-signal")

    # -- public --------------------------------------------------------------------------------------
    def run(self, view: RequestView, names: Iterable[str] | None = None) -> SignalResults:
        """Compute `names` (all configured signals when None) for `view`; blocks at most until the last
        pooled signal's deadline."""
        t0 = time.perf_counter()
        results, pending = self._start(view, names, t0)
        for p in pending:
            wait_futures([p.future], timeout=max(0.0, p.deadline - time.perf_counter()))
            results[p.signal.name] = self._collect(p, t0)
        return self._finish(view, results, t0)

    async def arun(self, view: RequestView, names: Iterable[str] | None = None) -> SignalResults:
        """`run` for the event loop: pooled signals are awaited, never blocking the loop."""
        t0 = time.perf_counter()
        results, pending = self._start(view, names, t0)
        for p in pending:
            timeout = max(0.0, p.deadline - time.perf_counter())
            await asyncio.wait([asyncio.wrap_future(p.future)], timeout=timeout)
            results[p.signal.name] = self._collect(p, t0)
        return self._finish(view, results, t0)

    def warm_up(self) -> None:
        """Load the encoder and run it once if any signal needs it (the first ONNX run is slow)."""
        if any(s.needs_embedding for s in self.signals.values()):
            self.encoder().encode(["warm up"])

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def encoder(self) -> Any:
        """The encoder, resolved on first use (so configs without embedding signals never load one)."""
        if self._encoder is None:
            with self._encoder_lock:
                if self._encoder is None:
                    source = self._encoder_source
                    if source is None:
                        from pointsman.text.encoder import get_encoder

                        source = get_encoder
                    self._encoder = source() if callable(source) and not hasattr(source, "encode") else source
        return self._encoder

    # -- steps ---------------------------------------------------------------------------------------
    def _resolve(self, names: Iterable[str] | None) -> list[Signal]:
        if names is None:
            return list(self.signals.values())
        out = []
        for name in dict.fromkeys(names):
            signal = self.signals.get(name)
            if signal is None:
                known = ", ".join(sorted(self.signals)) or "none"
                raise UnknownSignalError(f"unknown signal {name!r}; configured signals: {known}")
            out.append(signal)
        return out

    def _start(
        self, view: RequestView, names: Iterable[str] | None, t0: float
    ) -> tuple[dict[str, SignalResult], list[_Pending]]:
        results: dict[str, SignalResult] = {}
        pending: list[_Pending] = []
        for signal in self._resolve(names):
            key = signal.cache_key(view)
            if key is not None:
                hit = self.cache.get(signal.name, key)
                if hit is not None:
                    results[signal.name] = replace(hit, ms=0.0, cached=True)
                    continue
            if signal.inline or (signal.needs_embedding and view.embedding is not None):
                result = _timed(signal, view)
                results[signal.name] = result
                self._store(signal, key, result)
                continue
            budget_ms = signal.budget_ms
            if signal.needs_embedding and view.embedding is None:
                budget_ms += self.embedding_budget_ms
            future = self._pool.submit(self._compute_pooled, signal, view)
            future.add_done_callback(lambda f, s=signal, k=key: self._store_late(s, k, f))
            pending.append(_Pending(signal, key, future, t0 + budget_ms / 1000))
        return results, pending

    def _compute_pooled(self, signal: Signal, view: RequestView) -> SignalResult:
        if signal.needs_embedding:
            try:
                view.ensure_embedding(self.encoder())
            except Exception as exc:  # noqa: BLE001 - reported as this signal's error
                return SignalResult.failed(f"{signal.name}: cannot embed the request: {exc}")
        return _timed(signal, view)

    def _collect(self, p: _Pending, t0: float) -> SignalResult:
        if p.future.done():
            return p.future.result()
        waited = (time.perf_counter() - t0) * 1000
        return SignalResult.failed(
            f"{p.signal.name}: over its budget ({waited:.1f} ms > {p.signal.budget_ms:g} ms)", ms=waited
        )

    def _store(self, signal: Signal, key: Hashable | None, result: SignalResult) -> None:
        if key is not None and result.ok:
            self.cache.put(signal.name, key, result)

    def _store_late(self, signal: Signal, key: Hashable | None, future: Future[SignalResult]) -> None:
        if not future.cancelled():
            self._store(signal, key, future.result())

    def _finish(self, view: RequestView, results: dict[str, SignalResult], t0: float) -> SignalResults:
        return SignalResults(results, (time.perf_counter() - t0) * 1000, view.embedding is not None)


def _timed(signal: Signal, view: RequestView) -> SignalResult:
    start = time.perf_counter()
    try:
        result = signal.compute(view)
    except Exception as exc:  # noqa: BLE001 - a failing signal never fails the request
        return SignalResult.failed(
            f"{signal.name}: {type(exc).__name__}: {exc}", (time.perf_counter() - start) * 1000
        )
    return replace(result, ms=(time.perf_counter() - start) * 1000)
