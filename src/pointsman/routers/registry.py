"""Router names -> classes. Each algorithm module registers itself with `@register`."""

from __future__ import annotations

import importlib
from typing import Any, TypeVar

from pointsman.routers.base import Router, RouterFileError

_ROUTERS: dict[str, type[Router]] = {}
# Modules that define routers; imported on first lookup so `import pointsman` stays cheap.
_MODULES: tuple[str, ...] = (
    "pointsman.routers.baselines",
    "pointsman.routers.knn",
    "pointsman.routers.category",
    "pointsman.routers.mixture",
    "pointsman.routers.mlp",
    "pointsman.routers.mf",
    "pointsman.routers.irt",
    "pointsman.routers.graph",
    "pointsman.routers.dual",
)
# The router the gateway and `pointsman eval` use by default.
DEFAULT_ROUTER = "mixture"

R = TypeVar("R", bound=type[Router])


def register(cls: R) -> R:
    _ROUTERS[cls.name] = cls
    return cls


def _load_all() -> None:
    for mod in _MODULES:
        importlib.import_module(mod)


def router_names() -> list[str]:
    _load_all()
    return sorted(_ROUTERS)


def router_class(name: str) -> type[Router]:
    _load_all()
    try:
        return _ROUTERS[name]
    except KeyError:
        raise RouterFileError(f"unknown router {name!r}; known: {', '.join(sorted(_ROUTERS))}") from None


def make_router(name: str, **params: Any) -> Router:
    return router_class(name)(**params)
