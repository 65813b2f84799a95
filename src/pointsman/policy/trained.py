"""Routers trained on first use: the lab's default router fitted on routing data and cached, so a config (or
`pointsman demo`) needs no manual `pointsman train` step.

`selector: {train: {data: ../data/routeprofile}}` in a profile becomes a `TrainedSelector`: it trains (or
finds in the cache) when the gateway starts (`warm`) or on the first request that needs it, never when a
config is only loaded or explained.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import threading
from pathlib import Path
from typing import Any, Callable, Collection, Sequence

from pointsman.config.gateway import TrainConfig
from pointsman.policy.objective import Objective
from pointsman.signals.base import RequestView


def default_router() -> str:
    """The router the lab names as the gateway's default (its DEFAULT_ROUTER), else kNN."""
    from pointsman.routers import registry

    names = registry.router_names()
    name = getattr(registry, "DEFAULT_ROUTER", None) or ("knn" if "knn" in names else None)
    if name is None or name not in names:
        raise RuntimeError(f"no default router is registered (known routers: {', '.join(names) or 'none'})")
    return name


def trained_router(
    dataset: Any,
    held_out: Collection[str] = (),
    name: str | None = None,
    status: Callable[[str], Any] | None = None,
) -> Path:
    """A router `name` (default: `default_router()`) fitted on `dataset` minus the `held_out` prompts, cached
    in the cache directory by data, router and held-out set. `status(message)` is a context manager shown
    while training (e.g. a rich console's `status`)."""
    from pointsman.routers.registry import make_router
    from pointsman.text.cache_dir import cache_dir

    name = name or default_router()
    key = f"{name}|{dataset.name}|{dataset.n_prompts}|{dataset.model_names}|{sorted(held_out)}"
    path = cache_dir() / "routers" / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.npz"
    if _loads(path):
        return path
    rows = [i for i, p in enumerate(dataset.prompts) if p not in held_out]
    message = (
        f"training the '{name}' router on {len(rows)} prompts x {dataset.n_models} models "
        f"(first run only; cached in {path.parent}) ..."
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npz")
    with status(message) if status is not None else contextlib.nullcontext():
        make_router(name).fit(dataset.subset(rows)).save(tmp)
    os.replace(tmp, path)
    return path


def _loads(path: Path) -> bool:
    """A cached router file this pointsman can load (one written by an older router version is retrained)."""
    from pointsman.routers.base import Router, RouterFileError

    if not path.is_file():
        return False
    try:
        Router.load(path)
    except RouterFileError:
        return False
    return True


class TrainedSelector:
    """A `RouterSelector` over a router trained from `train.data` on first use."""

    def __init__(
        self,
        train: TrainConfig,
        candidates: Sequence[str],
        objective: Objective,
        *,
        prices: dict[str, tuple[float, float]],
        encoder: Any = None,
    ) -> None:
        self.train = train
        self.candidates = list(candidates)
        self.objective = objective
        self._prices = prices
        self._encoder = encoder
        self._inner: Any = None  # RouterSelector, once trained
        self._lock = threading.Lock()

    def selector(self) -> Any:
        """The RouterSelector (trains or loads the router the first time; blocking)."""
        with self._lock:
            if self._inner is None:
                from pointsman.data.loaders import load_dataset
                from pointsman.policy.selector import RouterSelector
                from pointsman.routers.base import Router

                dataset = load_dataset(self.train.data, self.train.format)
                missing = [c for c in self.candidates if c not in dataset.model_names]
                if missing:
                    raise ValueError(
                        f"selector.train: the data {self.train.data} has no scores for "
                        f"{', '.join(map(repr, missing))} (it has: {', '.join(dataset.model_names)})"
                    )
                path = trained_router(dataset, name=self.train.router)
                self._inner = RouterSelector(
                    Router.load(path),
                    self.candidates,
                    self.objective,
                    prices=self._prices,
                    encoder=self._encoder,
                    source=str(path),
                )
        return self._inner

    def warm(self) -> None:
        self.selector().warm()

    async def rank(self, view: RequestView, objective: Objective | None = None, flags: Any = None) -> Any:
        if self._inner is None:
            await asyncio.to_thread(self.selector)
        return await self._inner.rank(view, objective, flags)
