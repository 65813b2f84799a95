"""Fingerprints, Cache-Control, the stream assembler and SSE replay, pairs files."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from pointsman.cache.control import BadCacheControl, parse_cache_control
from pointsman.cache.fingerprint import fingerprints
from pointsman.cache.pairs import PairsError, load_pairs
from pointsman.cache.replay import StreamAssembler, sse


def body(text: str, **kw) -> dict:
    return {
        "model": "auto",
        "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": text}],
        **kw,
    }


def test_fingerprints() -> None:
    a = fingerprints(body("hello"))
    assert a == fingerprints(body(" hello ", stream=True, user="u", metadata={"x": 1}))
    assert a.exact != fingerprints(body("hello", temperature=0.2)).exact
    assert a.exact != fingerprints(body("hello"), {"x-tier": "gold"}).exact
    b = fingerprints(body("goodbye"))
    assert a.exact != b.exact and a.context == b.context and b.question == "goodbye"
    assert a.context != fingerprints(body("hello", tools=[{"type": "function"}])).context


def test_cache_control() -> None:
    assert parse_cache_control(None).read and parse_cache_control("").write
    d = parse_cache_control("No-Cache, no-store")
    assert not d.read and not d.write
    d = parse_cache_control("max-age=60, private")
    assert d.read and d.max_age == 60
    assert not parse_cache_control("max-age=0").read
    with pytest.raises(BadCacheControl, match="'-1'"):
        parse_cache_control("max-age=-1")


def test_stream_assembles_and_replays() -> None:
    asm = StreamAssembler()
    chunks = [
        {"id": "c1", "created": 1, "model": "m", "choices": [{"index": 0, "delta": {"role": "assistant"}}]},
        {"id": "c1", "choices": [{"index": 0, "delta": {"content": "Hel"}}]},
        {"id": "c1", "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {"id": "c1", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}},
    ]
    for c in chunks:
        asm.add(c)
    response = asm.response()
    assert response["choices"][0]["message"]["content"] == "Hello"
    assert response["choices"][0]["finish_reason"] == "stop" and response["usage"]["total_tokens"] == 5
    events = sse(response, "chatcmpl-x", include_usage=True).split(b"\n\n")
    assert events[-2] == b"data: [DONE]" and events[-1] == b""
    parsed = [orjson.loads(e[6:]) for e in events[:-2]]
    assert "".join(p["choices"][0]["delta"].get("content", "") for p in parsed if p["choices"]) == "Hello"
    assert parsed[-1]["usage"]["total_tokens"] == 5 and all(p["id"] == "chatcmpl-x" for p in parsed)
    assert b"usage" not in sse(response, "x", include_usage=False)


def test_tool_call_deltas_assemble() -> None:
    asm = StreamAssembler()
    asm.add(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "t1", "function": {"name": "get", "arguments": '{"a"'}}
                        ]
                    },
                }
            ]
        }
    )
    asm.add(
        {
            "choices": [
                {
                    "index": 0,
                    "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]},
                    "finish_reason": "tool_calls",
                }
            ]
        }
    )
    call = asm.response()["choices"][0]["message"]["tool_calls"][0]
    assert call == {"id": "t1", "type": "function", "function": {"name": "get", "arguments": '{"a":1}'}}


def test_pairs_files(tmp_path: Path) -> None:
    good = tmp_path / "p.jsonl"
    good.write_text(
        '{"text_a": "a", "text_b": "b", "label": 1, "category": "x"}\n\n'
        '{"text_a": "c", "text_b": "d", "label": 0}\n'
    )
    pairs = load_pairs(good)
    assert len(pairs) == 2 and pairs.label.tolist() == [True, False] and pairs.category == ["x", ""]
    csv = tmp_path / "p.csv"
    csv.write_text("text_a,text_b,label\nx,y,1\n")
    assert load_pairs(csv).label.tolist() == [True]
    for text, message in [
        ('{"text_a": "a", "text_b": "b", "label": 3}\n', "label must be 0 or 1"),
        ('{"text_a": 1, "text_b": "b", "label": 1}\n', "must be strings"),
        ("{nope\n", ":1: not JSON"),
        ("", "no pairs"),
    ]:
        bad = tmp_path / "bad.jsonl"
        bad.write_text(text)
        with pytest.raises(PairsError, match=message):
            load_pairs(bad)
    with pytest.raises(PairsError, match="missing"):
        load_pairs(tmp_path / "missing.jsonl")
