"""`DELETE /v1/cache`: drop cached answers by key, tenant, category, or all of them (admin keys only).

Select with exactly one query parameter or JSON body field: `key` (an `x-pointsman-cache-key` header value),
`tenant`, `category`, or `all=true`. Answers `{"object": "cache.invalidation", "deleted": n}`.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from pointsman.gateway.errors import APIError, bad_request

_FIELDS = ("key", "tenant", "category", "all")
MAX_BODY_BYTES = 16 * 1024


class CacheAdminEndpoint:
    def __init__(self, gateway: Any) -> None:  # pointsman.gateway.service.Gateway
        self.gateway = gateway

    async def handle(self, request: Request) -> Response:
        try:
            return await self._handle(request)
        except APIError as exc:
            return exc.response()

    async def _handle(self, request: Request) -> Response:
        gw = self.gateway
        gw.gatekeeper.admin(request.headers.get("authorization"))
        if gw.cache is None:
            raise APIError(404, "The response cache is not enabled (cache.enabled)", code="cache_disabled")
        selector = await _selector(request)
        cache = gw.cache.cache
        if "all" in selector:
            deleted = await cache.invalidate(everything=True)
        else:
            deleted = await cache.invalidate(**selector)
        out = {"object": "cache.invalidation", **selector, "deleted": deleted}
        return Response(orjson.dumps(out), media_type="application/json")


async def _selector(request: Request) -> dict[str, Any]:
    given: dict[str, Any] = dict(request.query_params)
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise APIError(413, f"The body is at most {MAX_BODY_BYTES} bytes", code="request_too_large")
    if raw.strip():
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise bad_request(f"The body is not valid JSON: {exc}", code="invalid_json") from None
        if not isinstance(body, dict):
            raise bad_request("The body must be a JSON object", code="invalid_type")
        given.update(body)
    unknown = sorted(set(given) - set(_FIELDS))
    if unknown:
        raise bad_request(
            f"Unknown field {unknown[0]!r}; select with one of {', '.join(_FIELDS)}",
            param=unknown[0],
            code="unknown_parameter",
        )
    if len(given) != 1:
        raise bad_request(
            f"Select exactly one of {', '.join(_FIELDS)} (got {len(given)})",
            param="key",
            code="invalid_request",
        )
    ((name, value),) = given.items()
    if name == "all":
        if value not in (True, "true", "1"):
            raise bad_request("'all' must be true", param="all")
        return {"all": True}
    if not isinstance(value, str) or not value.strip():
        raise bad_request(f"'{name}' must be a non-empty string", param=name)
    return {name: value.strip()}
