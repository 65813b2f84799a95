"""The response cache through the real gateway over real HTTP: exact hits, streamed replays, Cache-Control,
what is never stored, bypass reasons (tests/gateway/test_cache_semantic.py: paraphrases, tenants, DELETE)."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from .servers import backends_yaml, wait_for_rows


def client(gw, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=kw.pop("api_key", "unused"), max_retries=0, **kw)


def ask(gw, text: str, headers: dict | None = None, **body) -> httpx.Response:
    payload = {"model": "auto", "messages": [{"role": "user", "content": text}], **body}
    return httpx.post(gw.url + "/v1/chat/completions", json=payload, headers=headers or {}, timeout=10)


@pytest.fixture()
def cached(ups, start_gateway, tmp_path: Path):
    return start_gateway(
        {
            "backends": backends_yaml(ups),
            "profiles": [{"name": "balanced", "candidates": ["m0", "m1"]}],
            "rules": [
                {"name": "nope", "when": {"keywords": ["forbidden"]}, "block": "content_blocked"},
                {"name": "private", "when": "pii", "redact": {}},
                {"name": "news", "when": {"keywords": ["headline"]}, "profile": "balanced"},
            ],
            "cache": {
                "enabled": True,
                "path": str(tmp_path / "cache.db"),
                "categories": {"news": {"cacheable": False}},
            },
        }
    )


def test_second_identical_request_is_an_exact_hit(cached, ups) -> None:
    first = ask(cached, "what is a monad?")
    assert first.status_code == 200 and first.headers["x-pointsman-cache"] == "miss"
    key = first.headers["x-pointsman-cache-key"]
    second = ask(cached, "what is a monad?")
    assert second.status_code == 200
    assert second.headers["x-pointsman-cache"] == "hit"
    assert second.headers["x-pointsman-cache-level"] == "exact"
    assert second.headers["x-pointsman-cache-similarity"] == "1.0000"
    assert second.headers["x-pointsman-cache-key"] == key
    assert int(second.headers["age"]) >= 0
    assert second.headers["x-pointsman-model"] == "m0"
    a, b = first.json(), second.json()
    assert b["choices"] == a["choices"] and b["model"] == "m0" and b["usage"] == a["usage"]
    assert b["id"] != a["id"]  # every answer is its own completion
    assert len(ups[0].requests()) == 1  # the upstream answered once
    rows = wait_for_rows(cached, 2)
    hit = next(r for r in rows if r.request_id == second.headers["x-request-id"])
    assert hit.action == "cache" and hit.reason.startswith("cache hit (exact")
    assert hit.cost_usd is None and hit.served_model == "m0"


def test_whitespace_and_parts_normalise_but_parameters_do_not(cached, ups) -> None:
    ask(cached, "explain tcp")
    parts = [{"type": "text", "text": "  explain tcp "}]
    assert ask(cached, parts).headers["x-pointsman-cache"] == "hit"  # type: ignore[arg-type]
    assert ask(cached, "explain tcp", max_tokens=5).headers["x-pointsman-cache"] == "miss"
    assert ask(cached, "explain tcp", model="m1").headers["x-pointsman-cache"] == "miss"
    assert ask(cached, "explain udp").headers["x-pointsman-cache"] == "miss"
    assert len(ups[0].requests()) + len(ups[1].requests()) == 4


def test_streamed_answer_is_stored_and_replayed_as_sse(cached, ups) -> None:
    c = client(cached)
    live = list(
        c.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "stream me"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    with httpx.stream(
        "POST",
        cached.url + "/v1/chat/completions",
        timeout=10,
        json={
            "model": "auto",
            "messages": [{"role": "user", "content": "stream me"}],
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    ) as r:
        assert r.headers["x-pointsman-cache"] == "hit" and r.headers["content-type"] == "text/event-stream"
        lines = [line for line in r.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    replay = list(
        c.chat.completions.create(
            model="auto",
            messages=[{"role": "user", "content": "stream me"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(ch.choices[0].delta.content or "" for ch in live if ch.choices)
    again = "".join(ch.choices[0].delta.content or "" for ch in replay if ch.choices)
    assert text == again == "You said: stream me"
    assert replay[-1].usage is not None and replay[-1].usage.total_tokens == live[-1].usage.total_tokens
    assert [ch.choices[0].finish_reason for ch in replay if ch.choices][-1] == "stop"
    assert all(ch.model == "m0" for ch in replay)
    # without include_usage no usage chunk, and a plain request is served the same answer
    plain = list(
        c.chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "stream me"}], stream=True
        )
    )
    assert all(ch.usage is None for ch in plain)
    body = ask(cached, "stream me")
    assert body.headers["x-pointsman-cache"] == "hit"
    assert body.json()["choices"][0]["message"]["content"] == "You said: stream me"
    assert len(ups[0].requests()) == 1


def test_cache_control(cached, ups) -> None:
    ask(cached, "hello cache")
    r = ask(cached, "hello cache", {"cache-control": "no-cache"})
    assert r.headers["x-pointsman-cache"] == "bypass" and r.headers["x-pointsman-cache-reason"] == "no-cache"
    assert ask(cached, "hello cache", {"cache-control": "max-age=0"}).headers["x-pointsman-cache"] == "bypass"
    assert ask(cached, "hello cache", {"cache-control": "max-age=3600"}).headers["x-pointsman-cache"] == "hit"
    assert len(ups[0].requests()) == 3
    # no-store: answered, not kept
    assert ask(cached, "keep out", {"cache-control": "no-store"}).headers["x-pointsman-cache"] == "miss"
    assert ask(cached, "keep out").headers["x-pointsman-cache"] == "miss"
    assert ask(cached, "keep out").headers["x-pointsman-cache"] == "hit"


def test_malformed_cache_control_is_a_clear_400(cached, ups) -> None:
    r = ask(cached, "hello", {"cache-control": "max-age=soon"})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["param"] == "cache-control" and "max-age" in err["message"] and "'soon'" in err["message"]
    assert ups[0].requests() == []


def test_blocked_redacted_failed_and_uncacheable_answers_are_never_stored(cached, ups) -> None:
    for _ in range(2):
        r = ask(cached, "something forbidden")
        assert r.status_code == 400 and r.headers["x-pointsman-cache"] == "miss"
    for _ in range(2):
        r = ask(cached, "mail me at jane.doe@example.com")
        assert r.status_code == 200 and r.headers["x-pointsman-cache"] == "bypass"
        assert r.headers["x-pointsman-cache-reason"] == "redacted"
    ups[0].set_fault("status=500")
    ups[1].set_fault("status=500")
    assert ask(cached, "fail once").status_code >= 500
    ups[0].set_fault(None)
    ups[1].set_fault(None)
    assert ask(cached, "fail once").headers["x-pointsman-cache"] == "miss"
    for _ in range(2):
        r = ask(cached, "today's headline")
        assert r.headers["x-pointsman-cache"] == "bypass"
    assert ask(cached, "a headline").headers["x-pointsman-cache-reason"] == "uncacheable"
    assert len(ups[0].requests()) == 2 + 1 + 1 + 2 + 1  # blocked never reached it


def test_bypass_reasons(cached, ups) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    for _ in range(2):
        assert ask(cached, "use a tool", tools=tools).headers["x-pointsman-cache-reason"] == "tools"
        assert (
            ask(cached, "be creative", temperature=1.5).headers["x-pointsman-cache-reason"] == "temperature"
        )
        r = ask(cached, "what is the weather like today?")
        assert r.headers["x-pointsman-cache-reason"] == "time_sensitive"
    assert ask(cached, "be creative", temperature=0.7).headers["x-pointsman-cache"] == "miss"
    assert len(ups[0].requests()) == 7


def test_content_filtered_stream_that_died_is_not_stored(cached, ups) -> None:
    ups[0].set_fault("die_after=2")
    ups[1].set_fault("die_after=2")
    with httpx.stream(
        "POST",
        cached.url + "/v1/chat/completions",
        timeout=10,
        json={"model": "auto", "messages": [{"role": "user", "content": "a long story"}], "stream": True},
    ) as r:
        body = "".join(r.iter_text())
    assert '"error"' in body
    ups[0].set_fault(None)
    ups[1].set_fault(None)
    assert ask(cached, "a long story").headers["x-pointsman-cache"] == "miss"


def test_cache_off_by_default_sends_no_cache_headers(gateway, ups) -> None:
    r = ask(gateway, "hello")
    assert "x-pointsman-cache" not in r.headers
    assert ask(gateway, "hello").headers.get("x-pointsman-cache") is None
    assert len(ups[0].requests()) == 2


def test_config_problems_name_the_key(ups, tmp_path: Path) -> None:
    import yaml

    from pointsman.config.loader import ConfigError, parse_config
    from pointsman.gateway.service import Gateway

    (tmp_path / "t.json").write_text("{}")
    base = {"backends": backends_yaml(ups), "store": {"kind": "none"}}
    bad = {**base, "cache": {"enabled": True, "thresholds": "t.json"}}
    with pytest.raises(ConfigError, match=r"cache\.thresholds"):
        parse_config(yaml.safe_dump(bad), source="c.yaml", base_dir=tmp_path)
    with pytest.raises(ConfigError, match="default.*unknown key"):
        parse_config(yaml.safe_dump({**base, "cache": {"default": {"tll": 5}}}), source="c.yaml")
    cfg = parse_config(
        yaml.safe_dump({**base, "cache": {"enabled": True, "category_signal": "nope"}}),
        source="c.yaml",
        base_dir=tmp_path,
    )
    with pytest.raises(ValueError, match="cache.category_signal: no signal named 'nope'"):
        Gateway(cfg)


def test_a_new_block_rule_is_not_bypassed_by_entries_stored_before_it(ups, start_gateway, tmp_path) -> None:
    cfg = {
        "backends": backends_yaml(ups),
        "cache": {"enabled": True, "path": str(tmp_path / "cache.db")},
    }
    gw = start_gateway(cfg)
    assert ask(gw, "tell me about the secret project").headers["x-pointsman-cache"] == "miss"
    assert ask(gw, "tell me about the secret project").headers["x-pointsman-cache"] == "hit"
    gw.stop()
    rules = [{"name": "secret", "when": {"keywords": ["secret project"]}, "block": "content_blocked"}]
    gw = start_gateway({**cfg, "rules": rules})
    r = ask(gw, "tell me about the secret project")
    assert r.status_code == 400 and r.json()["error"]["code"] == "content_blocked"


def test_anthropic_messages_and_their_streams_are_served_from_the_cache(cached, ups) -> None:
    import anthropic

    c = anthropic.Anthropic(base_url=cached.url, api_key="unused", max_retries=0)
    ask_once = {
        "model": "auto",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "cache me, claude"}],
    }
    first = c.messages.with_raw_response.create(**ask_once)
    second = c.messages.with_raw_response.create(**ask_once)
    assert second.headers.get("x-pointsman-cache") == "hit"
    assert second.parse().content[0].text == first.parse().content[0].text == "You said: cache me, claude"
    with c.messages.stream(**ask_once) as s:
        text = "".join(s.text_stream)
    assert text == "You said: cache me, claude"
    assert len(ups[0].requests()) == 1
