"""The console's HTTP side: the dashboard page at /dashboard and its JSON API under /admin/api.

Who sees what: with auth on, every API call needs a bearer key; an admin key (`admin: true`) sees all tenants,
any other key only its own tenant's decisions (asking for another tenant is a 403, another tenant's request id
a 404). With auth off the console is open to whoever reaches the port (loopback by default) and shows all.
The page itself holds no data: it asks for a key (kept in the browser's session storage) and calls the API.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from pointsman.console import reader, views
from pointsman.console.openapi import admin_spec
from pointsman.gateway.errors import APIError, bad_request

STATIC = Path(__file__).parent / "static"
EXPLORER_LIMIT = 500  # rows one explorer page may ask for
ACTIONS = ("route", "block", "redact", "divert")


@dataclass(frozen=True, slots=True)
class Viewer:
    """Whose data a caller may read: `tenant` None means every tenant's."""

    tenant: str | None
    admin: bool
    key_id: str | None


Handler = Callable[[Request], Awaitable[Any]]


class Console:
    def __init__(self, gateway: Any) -> None:  # pointsman.gateway.service.Gateway
        self.gateway = gateway
        self.auth = gateway.gatekeeper.enabled
        self.first_models = {name: p.candidates[0] for name, p in gateway.profiles.items()}
        page = (STATIC / "dashboard.html").read_text(encoding="utf-8")
        self._page = page.replace("{{auth}}", "on" if self.auth else "off").encode()
        self._spec = orjson.dumps(admin_spec())

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/dashboard", self.page, methods=["GET"]),
            Mount("/dashboard/static", StaticFiles(directory=STATIC), name="console-static"),
            Route("/admin/api/openapi.json", self.openapi, methods=["GET"]),
            Route("/admin/api/whoami", _api(self.whoami), methods=["GET"]),
            Route("/admin/api/overview", _api(self.overview), methods=["GET"]),
            Route("/admin/api/requests", _api(self.requests), methods=["GET"]),
            Route("/admin/api/requests/{request_id}", _api(self.request), methods=["GET"]),
            Route("/admin/api/backends", _api(self.backends), methods=["GET"]),
        ]

    async def page(self, request: Request) -> Response:
        return Response(
            self._page, media_type="text/html; charset=utf-8", headers={"cache-control": "no-store"}
        )

    async def openapi(self, request: Request) -> Response:
        return Response(self._spec, media_type="application/json")

    # -- the API ----------------------------------------------------------------------------------------

    def viewer(self, request: Request) -> Viewer:
        """The caller, or APIError 401. Keys are checked as on /v1 (no rate limit: the console polls)."""
        client = request.client.host if request.client else None
        who = self.gateway.gatekeeper.authenticate(request.headers.get("authorization"), client)
        if not self.auth:
            return Viewer(None, True, None)
        admin = who.admin
        return Viewer(None if admin else who.tenant, admin, who.key_id)

    async def whoami(self, request: Request) -> Any:
        v = self.viewer(request)
        return {"auth": self.auth, "admin": v.admin, "key_id": v.key_id, "tenant": v.tenant}

    async def overview(self, request: Request) -> Any:
        where = self._filter(request, self.viewer(request))
        until = where.until if where.until is not None else time.time()
        records = await asyncio.to_thread(reader.read, self.gateway.log, where)
        return views.overview(
            records,
            since=where.since,
            until=until,
            first_models=self.first_models,
            truncated=len(records) >= reader.MAX_RECORDS,
        )

    async def requests(self, request: Request) -> Any:
        where = self._filter(request, self.viewer(request))
        limit = _int(request, "limit", 50, 1, EXPLORER_LIMIT)
        records = await asyncio.to_thread(reader.read, self.gateway.log, where, limit)
        return {"object": "list", "data": [views.explorer_row(r) for r in records]}

    async def request(self, request: Request) -> Any:
        viewer = self.viewer(request)
        request_id = request.path_params["request_id"]
        record = await asyncio.to_thread(reader.one, self.gateway.log, request_id, viewer.tenant)
        if record is None:
            raise APIError(404, f"No decision with request id {request_id!r}", code="not_found")
        return record

    async def backends(self, request: Request) -> Any:
        self.viewer(request)
        from pointsman.gateway.app import _plain

        states = self.gateway.backend_states()
        return {"object": "list", "data": [{"backend": n, **_plain(s)} for n, s in states.items()]}

    def _filter(self, request: Request, viewer: Viewer) -> reader.Filter:
        q = request.query_params
        tenant = q.get("tenant") or None
        if viewer.tenant is not None:
            if tenant is not None and tenant != viewer.tenant:
                raise APIError(
                    403,
                    f"This key sees only tenant {viewer.tenant!r}",
                    param="tenant",
                    code="forbidden_tenant",
                )
            tenant = viewer.tenant
        since = _float(request, "since")
        window = _float(request, "window")
        if since is None and window is not None:
            since = time.time() - window
        action = q.get("action") or None
        if action is not None and action not in ACTIONS:
            raise bad_request(
                f"'action' must be one of {', '.join(ACTIONS)}", param="action", code="invalid_value"
            )
        status = q.get("status")
        return reader.Filter(
            since=since,
            until=_float(request, "until"),
            tenant=tenant,
            route=q.get("route") or None,
            model=q.get("model") or None,
            action=action,
            status=_int(request, "status", None, 100, 599) if status else None,
        )


def _api(handler: Handler) -> Handler:
    """JSON out (dataclasses included), APIError as an OpenAI-style error body."""

    async def endpoint(request: Request) -> Response:
        try:
            data = await handler(request)
        except APIError as exc:
            return exc.response()
        return Response(
            orjson.dumps(data), media_type="application/json", headers={"cache-control": "no-store"}
        )

    return endpoint


def _float(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise bad_request(
            f"'{name}' must be a number (unix seconds), got {raw[:40]!r}", param=name, code="invalid_type"
        )
    return value


def _int(request: Request, name: str, default: int | None, lo: int, hi: int) -> Any:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise bad_request(
            f"'{name}' must be an integer from {lo} to {hi}, got {raw[:40]!r}",
            param=name,
            code="invalid_value",
        )
    return int(raw)
