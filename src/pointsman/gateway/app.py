"""The ASGI application: chat completions on a bare endpoint, everything else on a small Starlette app."""

from __future__ import annotations

import dataclasses
import time
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from pointsman.console.api import Console
from pointsman.gateway.cache_admin import CacheAdminEndpoint
from pointsman.gateway.chat import ChatEndpoint
from pointsman.gateway.completions import completions_endpoint
from pointsman.gateway.embeddings import EmbeddingsEndpoint
from pointsman.gateway.errors import APIError
from pointsman.gateway.feedback import FeedbackEndpoint
from pointsman.gateway.messages import messages_endpoint
from pointsman.gateway.metrics import CONTENT_TYPE
from pointsman.gateway.openapi import openapi_spec
from pointsman.gateway.responses import responses_endpoint
from pointsman.gateway.service import Gateway

CHAT_PATHS = frozenset({"/v1/chat/completions", "/chat/completions"})


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status_code=status, media_type="application/json")


class GatewayApp:
    """`create_app(gateway)`: POST /v1/chat/completions goes to ChatEndpoint, the rest to Starlette."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.chat = ChatEndpoint(gateway)
        self.embeddings = EmbeddingsEndpoint(self.chat)
        self.created = int(time.time())
        self._spec = orjson.dumps(openapi_spec())
        self.other = Starlette(
            routes=[
                Route("/v1/models", self.models, methods=["GET"]),
                Route("/v1/models/{model:path}", self.model, methods=["GET"]),
                Route("/health", self.health, methods=["GET"]),
                Route("/ready", self.ready, methods=["GET"]),
                Route("/metrics", self.metrics, methods=["GET"]),
                Route("/openapi.json", self.openapi, methods=["GET"]),
                Route("/v1/feedback", FeedbackEndpoint(gateway).handle, methods=["POST"]),
                Route("/v1/cache", CacheAdminEndpoint(gateway).handle, methods=["DELETE"]),
                Route("/v1/chat/completions", self.wrong_method, methods=["GET", "PUT", "DELETE", "PATCH"]),
                Route("/v1/messages", messages_endpoint(self.chat), methods=["POST"]),  # Anthropic's API
                Route("/v1/embeddings", self.embeddings, methods=["POST"]),
                Route("/v1/responses", responses_endpoint(self.chat), methods=["POST"]),
                Route("/v1/completions", completions_endpoint(self.chat), methods=["POST"]),
                *Console(gateway).routes(),  # /dashboard and /admin/api
            ],
            exception_handlers={HTTPException: self.http_error, Exception: self.internal_error},
            lifespan=self.lifespan,
        )
        self.other.router.redirect_slashes = False  # a trailing slash is served below, never a bare 307

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] in CHAT_PATHS and scope["method"] == "POST":
            await self.chat(scope, receive, send)
        elif scope["type"] == "http" and len(scope["path"]) > 1 and scope["path"].endswith("/"):
            await self(_without_slash(scope), receive, send)  # `/v1/models/` is `/v1/models`
        else:
            await self.other(scope, receive, send)

    def _guard(self, request: Request, endpoint: str, *, admin: bool) -> Response | None:
        """The error response when the caller may not read `endpoint` (auth.public_endpoints), else None."""
        try:
            self.gateway.gatekeeper.endpoint(endpoint, request.headers.get("authorization"), admin=admin)
        except APIError as exc:
            return exc.response()
        return None

    @asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        await self.gateway.start()
        try:
            yield
        finally:
            await self.embeddings.close()
            await self.gateway.close()

    # -- routes ---------------------------------------------------------------------------------------

    async def models(self, request: Request) -> Response:
        return self._guard(request, "models", admin=False) or _json(
            {"object": "list", "data": self._models()}
        )

    async def model(self, request: Request) -> Response:
        """`GET /v1/models/{id}` (the SDKs' `models.retrieve`)."""
        denied = self._guard(request, "models", admin=False)
        if denied is not None:
            return denied
        name = request.path_params["model"]
        found = next((m for m in self._models() if m["id"] == name), None)
        if found is None:
            known = ", ".join(m["id"] for m in self._models())
            return APIError(
                404, f"The model '{name}' does not exist; known: {known}", code="model_not_found"
            ).response()
        return _json(found)

    def _models(self) -> list[dict]:
        gw, t = self.gateway, self.created
        data = []
        default = gw.decider.default_profile
        if default is not None:
            data.append(
                _model(
                    "auto",
                    t,
                    {"kind": "route", "profile": default, "rules": [r.name for r in gw.decider.rules]},
                )
            )
        else:  # no profile: `auto` tries the backends in config order
            data.append(
                _model("auto", t, {"kind": "route", "profile": None, "order": list(gw.decider.order)})
            )
        for name, p in gw.profiles.items():
            data.append(
                _model(
                    name,
                    t,
                    {
                        "kind": "profile",
                        "candidates": p.candidates,
                        "fallbacks": p.fallbacks,
                        "selector": "router" if p.learned else "static",
                        "description": p.description,
                    },
                )
            )
        for b in gw.config.backends:
            data.append(
                _model(
                    b.name,
                    t,
                    {
                        "kind": "model",
                        "backend": b.kind,
                        "input_price": b.input_price,
                        "output_price": b.output_price,
                        "context_window": b.context_window,
                    },
                    owned_by=b.kind,
                )
            )
        return data

    async def health(self, request: Request) -> Response:
        return self._guard(request, "health", admin=True) or _json({"status": "ok"})

    async def ready(self, request: Request) -> Response:
        denied = self._guard(request, "ready", admin=True)
        if denied is not None:
            return denied
        states = {name: _plain(s) for name, s in self.gateway.backend_states().items()}
        serving = any(str(s.get("breaker", "closed")) != "open" for s in states.values())
        ok = self.gateway.started and serving
        return _json({"status": "ready" if ok else "not_ready", "backends": states}, 200 if ok else 503)

    async def metrics(self, request: Request) -> Response:
        return self._guard(request, "metrics", admin=True) or Response(
            self.gateway.metrics.render(), media_type=CONTENT_TYPE
        )

    async def openapi(self, request: Request) -> Response:
        return self._guard(request, "openapi", admin=False) or Response(
            self._spec, media_type="application/json"
        )

    async def wrong_method(self, request: Request) -> Response:
        message = f"Method {request.method} not allowed on {request.url.path}; use POST"
        return APIError(405, message, code="method_not_allowed").response()

    async def http_error(self, request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 404:
            message = f"No such endpoint: {request.method} {request.url.path}"
        else:
            message = str(exc.detail)
        return APIError(
            exc.status_code, message, code="not_found" if exc.status_code == 404 else None
        ).response()

    async def internal_error(self, request: Request, exc: Exception) -> Response:
        return APIError(500, f"Internal error ({type(exc).__name__})", code="internal_error").response()


def create_app(gateway: Gateway) -> GatewayApp:
    return GatewayApp(gateway)


def _model(name: str, created: int, info: dict, owned_by: str = "pointsman") -> dict:
    return {"id": name, "object": "model", "created": created, "owned_by": owned_by, "pointsman": info}


def _without_slash(scope: dict) -> dict:
    path = scope["path"].rstrip("/") or "/"
    return {**scope, "path": path, "raw_path": path.encode()}


def _plain(state: Any) -> dict:
    if dataclasses.is_dataclass(state) and not isinstance(state, type):
        out = dataclasses.asdict(state)
    elif isinstance(state, dict):
        out = dict(state)
    else:
        out = {k: v for k, v in vars(state).items() if not k.startswith("_")}
    return {k: (v.value if hasattr(v, "value") else v) for k, v in out.items()}
