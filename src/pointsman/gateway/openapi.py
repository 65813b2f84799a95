"""The OpenAPI 3.1 description of the gateway, served at `/openapi.json`.

Written to match `gateway/request.py` (what is checked), `gateway/chat.py` (what is sent), `gateway/app.py`;
tests validate real responses against these schemas and run schemathesis over the live server.
"""

from __future__ import annotations

from typing import Any

from pointsman import __version__

_ROLES = ["system", "developer", "user", "assistant", "tool", "function"]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _num(lo: float, hi: float) -> dict:
    return {"type": ["number", "null"], "minimum": lo, "maximum": hi}


_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": ["string", "null"]},
                "code": {"type": ["string", "null"]},
            },
        }
    },
}

_MESSAGE = {
    "type": "object",
    "required": ["role"],
    "properties": {
        "role": {"enum": _ROLES},
        "content": {
            "description": "text, or a list of parts (text, image_url, input_audio, ...)",
            "anyOf": [
                {"type": "string"},
                {"type": "null"},
                {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {"type": {"type": "string"}},
                    },
                },
            ],
        },
        "name": {"type": "string"},
        "tool_calls": {"type": "array", "items": {"type": "object"}},
        "tool_call_id": {"type": "string"},
    },
}

_REQUEST = {
    "type": "object",
    "required": ["messages"],
    "description": "Every field goes to the backend as sent; only `model` is replaced by the chosen one.",
    "properties": {
        "model": {
            "type": "string",
            "minLength": 1,
            "default": "auto",
            "description": "`auto` (default profile), a profile name, `router-<profile>-<threshold>`, "
            "or a model "
            "name (direct)",
        },
        "messages": {"type": "array", "minItems": 1, "items": _MESSAGE},
        "stream": {"type": ["boolean", "null"]},
        "stream_options": {
            "type": ["object", "null"],
            "properties": {"include_usage": {"type": "boolean"}},
            "description": "only with stream: true",
        },
        "temperature": _num(0, 2),
        "top_p": _num(0, 1),
        "n": {"type": ["integer", "null"], "minimum": 1, "maximum": 128},
        "max_tokens": {"type": ["integer", "null"], "minimum": 1},
        "max_completion_tokens": {"type": ["integer", "null"], "minimum": 1},
        "presence_penalty": _num(-2, 2),
        "frequency_penalty": _num(-2, 2),
        "seed": {"type": ["integer", "null"]},
        "stop": {
            "anyOf": [
                {"type": "string"},
                {"type": "null"},
                {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 4},
            ]
        },
        "tools": {"type": ["array", "null"], "items": {"type": "object"}},
        "tool_choice": {"type": ["string", "object", "null"]},
        "parallel_tool_calls": {"type": ["boolean", "null"]},
        "response_format": {
            "type": ["object", "null"],
            "required": ["type"],
            "properties": {"type": {"type": "string"}},
        },
        "user": {"type": ["string", "null"]},
        "metadata": {"type": ["object", "null"]},
        "logprobs": {"type": ["boolean", "null"]},
        "top_logprobs": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
        "logit_bias": {"type": ["object", "null"]},
    },
}

_USAGE = {
    "type": ["object", "null"],
    "properties": {
        "prompt_tokens": {"type": "integer"},
        "completion_tokens": {"type": "integer"},
        "total_tokens": {"type": "integer"},
    },
}

_COMPLETION = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "chat.completion"},
        "created": {"type": "integer"},
        "model": {"type": "string", "description": "the model that answered (as in x-pointsman-model)"},
        "choices": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "message"],
                "properties": {
                    "index": {"type": "integer"},
                    "message": {
                        "type": "object",
                        "required": ["role"],
                        "properties": {"role": {"type": "string"}},
                    },
                    "finish_reason": {"type": ["string", "null"]},
                },
            },
        },
        "usage": _USAGE,
    },
}

_CHUNK = {
    "type": "object",
    "required": ["id", "object", "created", "model", "choices"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "chat.completion.chunk"},
        "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object"}},
        "usage": _USAGE,
    },
}

_MODEL = {
    "type": "object",
    "required": ["id", "object", "created", "owned_by", "pointsman"],
    "properties": {
        "id": {"type": "string"},
        "object": {"const": "model"},
        "created": {"type": "integer"},
        "owned_by": {"type": "string"},
        "pointsman": {
            "type": "object",
            "required": ["kind"],
            "properties": {"kind": {"enum": ["route", "profile", "model"]}},
        },
    },
}

_HEADERS = {
    "x-request-id": {
        "description": "this request's id (also in the decision log)",
        "schema": {"type": "string"},
    },
    "x-pointsman-model": {"description": "the model that answered", "schema": {"type": "string"}},
    "x-pointsman-route": {"description": "the route profile, or `direct`", "schema": {"type": "string"}},
    "x-pointsman-reason": {"description": "why this route and model", "schema": {"type": "string"}},
    "x-pointsman-decision": {
        "description": "the rule that decided, or default / profile / direct / threshold",
        "schema": {"type": "string"},
    },
    "x-pointsman-action": {
        "description": "what the decision did",
        "schema": {"type": "string", "enum": ["route", "block", "redact", "divert"]},
    },
    "x-client-request-id": {
        "description": "the client's own `x-request-id` (or `x-client-request-id`), echoed; logged beside ours",
        "required": False,
        "schema": {"type": "string"},
    },
    "x-pointsman-spill": {
        "description": "`saturated -> served`: the profile's `spill` sent the request past a saturated model",
        "required": False,
        "schema": {"type": "string"},
    },
    "x-pointsman-signals": {
        "description": "JSON of the signals computed (only when asked with `x-pointsman-debug: signals` "
        "and the config allows it)",
        "required": False,
        "schema": {"type": "string"},
    },
}
_DECISION_HEADERS = {
    k: _HEADERS[k] for k in ("x-pointsman-decision", "x-pointsman-action", "x-pointsman-reason")
}


def _error_response(description: str) -> dict:
    return {
        "description": description,
        "headers": {"x-request-id": _HEADERS["x-request-id"]},
        "content": {"application/json": {"schema": _ref("Error")}},
    }


def openapi_spec() -> dict[str, Any]:
    json_of = lambda name: {"application/json": {"schema": _ref(name)}}  # noqa: E731
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "pointsman gateway",
            "version": __version__,
            "description": "An OpenAI-compatible chat-completions API that routes each request to a model.",
        },
        "paths": {
            "/v1/chat/completions": {
                "post": {
                    "operationId": "createChatCompletion",
                    "summary": "Route and answer a chat completion (JSON, or SSE when stream is true)",
                    "security": [{"bearer": []}, {}],
                    "requestBody": {"required": True, "content": json_of("ChatCompletionRequest")},
                    "responses": {
                        "200": {
                            "description": "the answer; with stream: SSE `data: <chunk>` events, then "
                            "`data: [DONE]` (or a final `data: <Error>` event if the upstream failed "
                            "mid-stream)",
                            "headers": _HEADERS,
                            "content": {
                                **json_of("ChatCompletion"),
                                "text/event-stream": {"schema": _ref("StreamEvent")},
                            },
                        },
                        "400": {
                            **_error_response(
                                "malformed JSON, wrong types, bad values; or blocked by a rule (a code like "
                                "content_blocked, out_of_domain; no backend was called)"
                            ),
                            "headers": {"x-request-id": _HEADERS["x-request-id"], **_DECISION_HEADERS},
                        },
                        "401": _error_response("missing or wrong API key (auth on)"),
                        "403": {
                            **_error_response("blocked by a rule configured with status 403"),
                            "headers": {"x-request-id": _HEADERS["x-request-id"], **_DECISION_HEADERS},
                        },
                        "404": _error_response("unknown model"),
                        "413": _error_response("body over limits.max_body_bytes"),
                        "429": {
                            **_error_response(
                                "rate limit (Retry-After says when), or every upstream rate-limited"
                            ),
                            "headers": {"retry-after": {"schema": {"type": "string"}}, **_HEADERS},
                        },
                        "500": _error_response("internal error"),
                        "502": _error_response("no model could answer (upstream errors)"),
                        "503": _error_response(
                            "no model could answer (breakers open, saturated); or guard_unavailable: "
                            "a signal a guard needs failed and the guard fails closed"
                        ),
                        "504": _error_response("no model could answer in time"),
                    },
                }
            },
            "/v1/models": {
                "get": {
                    "operationId": "listModels",
                    "summary": "`auto`, the route profiles and the models",
                    "responses": {"200": {"description": "models", "content": json_of("ModelList")}},
                }
            },
            "/v1/models/{model}": {
                "get": {
                    "operationId": "retrieveModel",
                    "summary": "one entry of the model list (the SDKs' `models.retrieve`)",
                    "parameters": [
                        {"name": "model", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {
                        "200": {
                            "description": "the model",
                            "content": {"application/json": {"schema": _MODEL}},
                        },
                        "404": _error_response("no such model"),
                    },
                }
            },
            "/health": {
                "get": {
                    "operationId": "health",
                    "summary": "liveness",
                    "responses": {"200": {"description": "alive", "content": json_of("Health")}},
                }
            },
            "/ready": {
                "get": {
                    "operationId": "ready",
                    "summary": "readiness: started and at least one backend can serve",
                    "responses": {
                        "200": {"description": "ready", "content": json_of("Ready")},
                        "503": {"description": "not ready", "content": json_of("Ready")},
                    },
                }
            },
            "/v1/feedback": {
                "post": {
                    "operationId": "createFeedback",
                    "summary": "Score an answered request (docs/learning.md)",
                    "security": [{"bearer": []}, {}],
                    "requestBody": {"required": True, "content": json_of("FeedbackRequest")},
                    "responses": {
                        "200": {"description": "stored", "content": json_of("Feedback")},
                        **{
                            code: {"description": what, "content": json_of("Error")}
                            for code, what in (
                                ("400", "malformed JSON, unknown field, wrong types or values"),
                                ("401", "missing or wrong API key (auth on)"),
                                ("403", "the request belongs to another tenant"),
                                ("404", "no logged request with this id"),
                                ("409", "the request already has a score (send replace: true)"),
                                ("413", "body over 64 KiB"),
                                ("429", "rate limit"),
                            )
                        },
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics",
                    "responses": {
                        "200": {
                            "description": "text format",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "ChatCompletionRequest": _REQUEST,
                "ChatCompletion": _COMPLETION,
                "ChatCompletionChunk": _CHUNK,
                "StreamEvent": {
                    "type": "object",
                    "description": "one server-sent event (OpenAPI 3.1: the schema of each event)",
                    "required": ["data"],
                    "properties": {
                        "data": {
                            "type": "string",
                            "contentMediaType": "application/json",
                            "description": "a ChatCompletionChunk, then `[DONE]`; or a final Error",
                        },
                        "event": {"type": "string"},
                    },
                },
                "Error": _ERROR,
                "ModelList": {
                    "type": "object",
                    "required": ["object", "data"],
                    "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": _MODEL}},
                },
                "FeedbackRequest": {
                    "type": "object",
                    "additionalProperties": False,
                    "description": "give `score` or `thumbs`; the id as `request_id`, `id` or x-request-id",
                    "properties": {
                        "request_id": {"type": "string"},
                        "id": {"type": "string"},
                        "score": {"type": "number", "minimum": 0, "maximum": 1},
                        "thumbs": {"enum": ["up", "down"]},
                        "labels": {
                            "type": "array",
                            "maxItems": 32,
                            "items": {"type": "string", "maxLength": 64},
                        },
                        "comment": {"type": "string", "maxLength": 4000},
                        "replace": {"type": "boolean"},
                    },
                },
                "Feedback": {
                    "type": "object",
                    "required": ["object", "request_id", "score", "labels", "replaced"],
                    "properties": {
                        "object": {"const": "feedback"},
                        "request_id": {"type": "string"},
                        "score": {"type": "number", "minimum": 0, "maximum": 1},
                        "labels": {"type": "array", "items": {"type": "string"}},
                        "replaced": {"type": "boolean"},
                    },
                },
                "Health": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"const": "ok"}},
                },
                "Ready": {
                    "type": "object",
                    "required": ["status", "backends"],
                    "properties": {
                        "status": {"enum": ["ready", "not_ready"]},
                        "backends": {"type": "object", "additionalProperties": {"type": "object"}},
                    },
                },
            },
        },
    }
