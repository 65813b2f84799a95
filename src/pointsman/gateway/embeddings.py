"""`POST /v1/embeddings`: each input routed on its own (RouterRetriever-style), with fallback.

Every input text goes through the same decision as a chat request holding it as its one user message
(`Gateway.route`: rules over its signals, the requested model or profile, guards, the profile's selector), so
a rule can send German text to a multilingual embedding model and code to a code one; inputs whose rankings
agree are sent together, one upstream call per ranking, and the vectors come back in input order. A block rule
refuses the whole request; a redact rule sends untrusted backends the redacted text. Embedding backends are
`kind: openai` backends serving `{base_url}/embeddings` (backends/embeddings.py).

The decision log gets one record per request: the first input's decision, the model that embedded it, every
attempt, and the tokens of all inputs priced at that model's `input_price`.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from pointsman.backends.base import BackendError
from pointsman.backends.embeddings import EmbeddingDispatcher
from pointsman.gateway.chat import ChatEndpoint, ClientGone, _send_error
from pointsman.gateway.errors import APIError, bad_request
from pointsman.gateway.request import ChatRequest
from pointsman.gateway.service import Exchange, new_request_id
from pointsman.gateway.translated import json_object

_JSON = (b"content-type", b"application/json")


class EmbeddingsEndpoint:
    def __init__(self, chat: ChatEndpoint) -> None:
        self.chat = chat
        self.gateway = chat.gateway
        self.dispatcher = EmbeddingDispatcher(self.gateway.config.backends)

    async def close(self) -> None:
        await self.dispatcher.close()

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        gw = self.gateway
        ex = Exchange(new_request_id(), time.perf_counter(), time.time())
        headers = dict(scope["headers"])
        ex.headers_in = {
            k.decode(): v.decode("latin-1") for k, v in headers.items() if k in self.chat.signal_headers
        }
        try:
            client = scope.get("client")
            await gw.admit(
                ex,
                headers.get(b"authorization", b"").decode("latin-1") or None,
                client[0] if client else None,
            )
            body, texts = parse_embeddings(await self.chat._body(receive, headers))
            ex.request = ChatRequest(body, body.get("model", "auto"), False, False)
            response = await self._embed(ex, body, texts)
            out = orjson.dumps(response)
            head = [_JSON, (b"content-length", str(len(out)).encode()), *ex.headers()]
            await send({"type": "http.response.start", "status": 200, "headers": head})
            await send({"type": "http.response.body", "body": out})
        except APIError as exc:
            ex.status, ex.error_code = exc.status, exc.code
            await _send_error(send, exc, ex)
        except ClientGone:
            ex.status, ex.error_code = 499, "client_closed"
        finally:
            gw.finish(ex)

    async def _embed(self, ex: Exchange, body: dict[str, Any], texts: list[str]) -> dict[str, Any]:
        groups: dict[tuple[str, ...], list[int]] = {}
        routed: list[Exchange] = []
        for i, text in enumerate(texts):
            sub = Exchange(ex.request_id, ex.started, ex.arrived, ex.principal, ex.headers_in)
            sub.request = ChatRequest({"model": ex.request.model, "messages": [{"role": "user", "content": text}]},  # type: ignore[union-attr]
                                      ex.request.model, False, False)  # type: ignore[union-attr]  # fmt: skip
            try:
                await self.gateway.route(sub)
            finally:
                if i == 0:  # the request's record and headers show the first input's decision
                    ex.view, ex.decision, ex.selection = sub.view, sub.decision, sub.selection
            routed.append(sub)
            groups.setdefault(tuple(sub.selection.ranking), []).append(i)  # type: ignore[union-attr]
        vectors: list[Any] = [None] * len(texts)
        tokens = 0
        for ranking, indexes in groups.items():
            group = {**body, "input": [texts[i] for i in indexes]}
            bodies = _redacted(group, [routed[i] for i in indexes])
            try:
                done = await self.dispatcher.embed(ranking, group, bodies)
            except BackendError as exc:
                raise self.gateway.failure(ex, exc) from None
            ex.attempts += done.attempts
            ex.served = ex.served or done.model
            if ex.first_byte_s is None:
                ex.first_byte_s = time.perf_counter() - ex.started
            for i, item in zip(
                indexes, sorted(done.data["data"], key=lambda d: d.get("index", 0)), strict=True
            ):
                vectors[i] = {**item, "index": i}
            tokens += _int((done.data.get("usage") or {}).get("prompt_tokens"))
        ex.usage = {"prompt_tokens": tokens, "completion_tokens": 0}
        return {
            "object": "list",
            "data": vectors,
            "model": ex.served,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }


def _redacted(group: dict[str, Any], subs: list[Exchange]) -> dict[str, dict] | None:
    """Per-backend bodies where a redact guard changed some input (the redacted text for those backends)."""
    changed = [s.redacted for s in subs if s.redacted is not None]
    if not changed:
        return None
    backends = set().union(*(r.backends for r in changed))
    out = {}
    for name in backends:
        inputs = [
            s.redacted.body["messages"][0]["content"] if s.redacted and name in s.redacted.backends else text
            for s, text in zip(subs, group["input"], strict=True)
        ]
        out[name] = {**group, "input": inputs}
    return out


def parse_embeddings(raw: bytes) -> tuple[dict[str, Any], list[str]]:
    """The body and its input texts; a clear 400 for anything else."""
    body = json_object(raw)
    model = body.get("model", "auto")
    if not isinstance(model, str) or not model:
        raise bad_request("'model' must be a non-empty string", param="model", code="invalid_type")
    inputs = body.get("input")
    if inputs is None:
        raise bad_request("'input' is required", param="input", code="missing_required_parameter")
    texts = [inputs] if isinstance(inputs, str) else inputs
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise bad_request(
            "'input' must be a non-empty string or a non-empty list of non-empty strings (token arrays are not "
            "routed: send text)",
            param="input",
            code="invalid_type",
        )
    if len(texts) > 2048:
        raise bad_request(
            f"'input' holds {len(texts)} texts; at most 2048", param="input", code="invalid_value"
        )
    return body, texts


def _int(v: Any) -> int:
    return v if isinstance(v, int) and not isinstance(v, bool) else 0
