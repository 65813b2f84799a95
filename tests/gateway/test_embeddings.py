"""`POST /v1/embeddings` with the official openai client against the real gateway: each input routed by the
rules, vectors back in input order, fallback, guards, the decision log, and clear errors."""

from __future__ import annotations

import httpx
import openai
import pytest

from pointsman.testing.replies import embed_text

from .servers import backends_yaml, wait_for_rows


@pytest.fixture()
def embedder(ups, start_gateway):
    backends = backends_yaml(ups)
    backends.append({**backends[0], "name": "claude", "kind": "anthropic"})  # cannot embed: skipped
    return start_gateway(
        {
            "backends": backends,
            "profiles": [
                {"name": "embed", "candidates": ["claude", "m0", "m1"]},
                {"name": "embed-code", "candidates": ["m2"], "fallbacks": ["m1"]},
            ],
            "signals": {
                "topics": {"type": "keywords", "sets": {"code": ["def", "import"], "heist": ["zeppelin"]}}
            },
            "rules": [
                {
                    "name": "code",
                    "when": "topics contains code",
                    "models": ["embed"],
                    "profile": "embed-code",
                },
                {"name": "no-heists", "priority": 100, "when": "topics contains heist", "block": True},
            ],
        }
    )


def client(gw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def test_one_input(embedder, ups) -> None:
    raw = client(embedder).embeddings.with_raw_response.create(model="embed", input="the quick brown fox")
    reply = raw.parse()
    assert raw.headers["x-pointsman-model"] == "m0" and raw.headers["x-pointsman-route"] == "embed"
    assert reply.data[0].embedding == pytest.approx(embed_text("the quick brown fox"))
    assert reply.model == "m0" and reply.usage.prompt_tokens == 4
    sent = ups[0].requests()[-1].body
    assert sent["model"] == "upstream-m0" and sent["input"] == ["the quick brown fox"]
    row = next(r for r in wait_for_rows(embedder, 1) if r.request_id == raw.headers["x-request-id"])
    assert (row.route, row.served_model, row.prompt_tokens) == ("embed", "m0", 4)
    assert row.cost_usd == pytest.approx(4 * 1e-6)  # m0's input price: $1 per 1M tokens
    assert row.fallbacks[0]["model"] == "claude" and row.fallbacks[0]["code"] == "not_an_embedding_backend"


def test_each_input_is_routed_and_order_is_kept(embedder, ups) -> None:
    texts = ["plain words here", "import numpy as np", "more plain words", "def f(): pass"]
    reply = client(embedder).embeddings.create(model="embed", input=texts, encoding_format="float")
    assert [d.index for d in reply.data] == [0, 1, 2, 3]
    for text, item in zip(texts, reply.data, strict=True):
        assert item.embedding == pytest.approx(embed_text(text))
    assert ups[0].requests()[-1].body["input"] == ["plain words here", "more plain words"]
    assert ups[2].requests()[-1].body["input"] == ["import numpy as np", "def f(): pass"]
    assert reply.usage.prompt_tokens == sum(len(t.split()) for t in texts)


def test_fallback_and_breaker_skip(embedder, ups) -> None:
    ups[2].inject("500")
    raw = client(embedder).embeddings.with_raw_response.create(
        model="embed", input=["import os"], encoding_format="float"
    )
    assert (
        raw.headers["x-pointsman-model"] == "m1" and "fell back from m2" in raw.headers["x-pointsman-reason"]
    )
    assert raw.parse().data[0].embedding == pytest.approx(embed_text("import os"))


def test_all_failing_and_blocked(embedder, ups) -> None:
    ups[2].set_fault("500")
    ups[1].set_fault("503")
    with pytest.raises(openai.APIStatusError) as err:
        client(embedder).embeddings.create(model="embed", input="import os")
    assert err.value.status_code in (502, 503) and "m2" in str(err.value) and "m1" in str(err.value)
    with pytest.raises(openai.BadRequestError) as blocked:
        client(embedder).embeddings.create(model="embed", input=["fine", "a zeppelin heist"])
    assert blocked.value.body["code"] == "content_blocked"


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        (b"{nope", 400, None),
        (b'{"model": "embed"}', 400, "input"),
        (b'{"model": "embed", "input": []}', 400, "input"),
        (b'{"model": "embed", "input": [[1, 2, 3]]}', 400, "input"),
        (b'{"model": "embed", "input": ["ok", ""]}', 400, "input"),
        (b'{"model": 7, "input": "x"}', 400, "model"),
        (b'{"model": "nope", "input": "x"}', 404, "model"),
    ],
)
def test_bad_requests(embedder, body: bytes, status: int, param: str | None) -> None:
    r = httpx.post(
        embedder.url + "/v1/embeddings", content=body, headers={"content-type": "application/json"}
    )
    assert r.status_code == status
    assert r.json()["error"]["param"] == param and r.json()["error"]["message"]
