"""The OpenAPI 3.1 description of /admin/api, served at /admin/api/openapi.json. Response schemas come from
the dataclasses the endpoints return (pydantic derives them), so the description cannot drift from the code."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from pointsman import __version__
from pointsman.console.views import Overview
from pointsman.gateway.openapi import _ERROR
from pointsman.store.decisions import DecisionRecord

_FILTERS = [
    ("since", "number", "unix seconds: only decisions from then on"),
    ("until", "number", "unix seconds: only decisions before then"),
    ("window", "number", "seconds back from now (when `since` is not given)"),
    ("tenant", "string", "one tenant (a non-admin key may only name its own)"),
    ("route", "string", "a route profile name, or `direct`"),
    ("model", "string", "the model that answered (or was chosen, when none answered)"),
    ("action", "string", "route, block, redact or divert"),
    ("status", "integer", "the HTTP status the client got"),
]

_ROW = {
    "type": "object",
    "properties": {
        "request_id": {"type": "string"},
        "time": {"type": "number"},
        "tenant": {"type": ["string", "null"]},
        "requested_model": {"type": "string"},
        "route": {"type": "string"},
        "decision": {"type": ["string", "null"]},
        "action": {"type": ["string", "null"]},
        "chosen_model": {"type": ["string", "null"]},
        "served_model": {"type": ["string", "null"]},
        "status": {"type": "integer"},
        "error_code": {"type": ["string", "null"]},
        "total_s": {"type": ["number", "null"]},
        "cost_usd": {"type": ["number", "null"]},
        "stream": {"type": "boolean"},
    },
}


def _schema(kind: Any) -> dict:
    return TypeAdapter(kind).json_schema(ref_template="#/components/schemas/{model}")


def _params(names: list[tuple[str, str, str]]) -> list[dict]:
    return [
        {"name": n, "in": "query", "required": False, "schema": {"type": t}, "description": d}
        for n, t, d in names
    ]


def _get(summary: str, schema: dict, params: list[dict] | None = None) -> dict:
    errors = {
        "400": "a malformed query parameter",
        "401": "no key, or an unknown one (auth on)",
        "403": "a non-admin key naming another tenant",
    }
    return {
        "get": {
            "summary": summary,
            "parameters": params or [],
            "security": [{"bearer": []}],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {"schema": schema}}},
                **{
                    code: {"description": what, "content": {"application/json": {"schema": _ERROR}}}
                    for code, what in errors.items()
                },
            },
        }
    }


def admin_spec() -> dict[str, Any]:
    overview, record = _schema(Overview), _schema(DecisionRecord)
    components = {**overview.pop("$defs", {}), **record.pop("$defs", {})}
    components.update(Overview=overview, DecisionRecord=record)
    ref = lambda name: {"$ref": f"#/components/schemas/{name}"}
    listing = lambda item: {
        "type": "object",
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": item}},
    }
    one = _get(
        "One decision: signals, rule, ranking (candidates), attempts, tokens, cost", ref("DecisionRecord")
    )
    one["get"]["parameters"] = [
        {"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}
    ]
    one["get"]["responses"]["404"] = {
        "description": "no such request id (or another tenant's)",
        "content": {"application/json": {"schema": _ERROR}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "pointsman console API", "version": __version__},
        "paths": {
            "/admin/api/whoami": _get(
                "Who the key is and what it may see",
                {
                    "type": "object",
                    "properties": {
                        "auth": {"type": "boolean"},
                        "admin": {"type": "boolean"},
                        "key_id": {"type": ["string", "null"]},
                        "tenant": {"type": ["string", "null"], "description": "null: every tenant"},
                    },
                },
            ),
            "/admin/api/overview": _get(
                "Traffic, share per model, spend and savings, latency per backend, guard counts",
                ref("Overview"),
                _params(_FILTERS),
            ),
            "/admin/api/requests": _get(
                "The request explorer: newest decisions first",
                listing(_ROW),
                _params([*_FILTERS, ("limit", "integer", "rows, 1 to 500 (default 50)")]),
            ),
            "/admin/api/requests/{request_id}": one,
            "/admin/api/backends": _get(
                "Live backend states: breaker, in flight, limits",
                listing({"type": "object", "properties": {"backend": {"type": "string"}}}),
            ),
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
