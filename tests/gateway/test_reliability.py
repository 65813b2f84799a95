"""Faulty upstreams through the real gateway: no request is lost, breakers open and recover, streams are never
duplicated or garbled across a fallback, a mid-stream death ends in a clean SSE error, disconnects cancel."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import openai
import pytest

from .servers import backends_yaml, wait_for_rows


def chat(gw, model: str = "auto", text: str = "one two three", **kw) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **kw}
    return httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=30)


def sse_events(resp: httpx.Response) -> list[str]:
    return [line[6:] for line in resp.text.split("\n") if line.startswith("data: ")]


@pytest.mark.parametrize(
    "fault", ["status=500", "status=503", "reset", "garbage", "hang", "first_byte_delay=5"]
)
def test_fallback_serves_every_request(gateway, ups, fault) -> None:
    ups[0].set_fault(fault)
    resp = chat(gateway)
    assert resp.status_code == 200, resp.text
    assert resp.json()["model"] == resp.headers["x-pointsman-model"] == "m1"
    assert "fell back from m0" in resp.headers["x-pointsman-reason"]
    assert resp.json()["choices"][0]["message"]["content"] == "You said: one two three"


def test_stream_fallback_is_not_garbled(gateway, ups) -> None:
    ups[0].set_fault("status=500")
    with httpx.stream(
        "POST",
        gateway.url + "/v1/chat/completions",
        timeout=30,
        json={
            "model": "auto",
            "stream": True,
            "messages": [{"role": "user", "content": "alpha beta gamma"}],
        },
    ) as resp:
        resp.read()
    events = sse_events(resp)
    assert events[-1] == "[DONE]"
    import orjson

    chunks = [orjson.loads(e) for e in events[:-1]]
    assert {c["model"] for c in chunks} == {"m1"}
    assert len({c["id"] for c in chunks}) == 1  # one upstream's stream, not two spliced together
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "You said: alpha beta gamma"


def test_mid_stream_death_ends_with_clean_error_event(gateway, ups) -> None:
    ups[0].set_fault("die_after=3")
    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
    got = []
    with pytest.raises(openai.APIError) as info:
        for chunk in client.chat.completions.create(
            model="auto", stream=True, messages=[{"role": "user", "content": "a b c d e f g h"}]
        ):
            got.append(chunk)
    assert got and all(c.model == "m0" for c in got)  # no fallback after the first byte
    assert "stream from m0 failed" in str(info.value)
    assert ups[1].requests() == []
    row = [r for r in wait_for_rows(gateway, 1) if r.stream][0]
    assert row.status == 200 and row.error_code is not None and row.served_model == "m0"


def test_all_fail_gets_clear_error_and_429_retry_after(gateway, ups) -> None:
    for up in ups:
        up.set_fault("status=500")
    resp = chat(gateway, model="strong")
    assert resp.status_code in (502, 503), resp.text
    err = resp.json()["error"]
    assert err["type"] == "api_error" and "No model could answer" in err["message"]
    assert "m2" in err["message"] and "m1" in err["message"] and "m0" in err["message"]
    for up in ups:
        up.set_fault("status=429,retry_after=2")
    resp = chat(gateway, model="m0")
    assert resp.status_code == 429 and resp.json()["error"]["type"] == "rate_limit_error"
    assert int(resp.headers["retry-after"]) >= 1


def test_breaker_opens_and_recovers(ups, start_gateway) -> None:
    gateway = start_gateway(
        {
            "backends": backends_yaml(ups, breaker={"failures": 3, "cooldown": 1.5}),
            "profiles": [{"name": "p", "candidates": ["m0", "m1"]}],
        }
    )
    ups[0].set_fault("status=500")
    for _ in range(4):
        assert chat(gateway).json()["model"] == "m1"
    sent_while_broken = len(ups[0].requests())
    assert chat(gateway).json()["model"] == "m1"
    assert len(ups[0].requests()) == sent_while_broken  # open: m0 is skipped, not called
    metrics = httpx.get(gateway.url + "/metrics").text
    assert 'pointsman_backend_breaker_state{backend="m0"} 2.0' in metrics
    assert 'pointsman_skips_total{model="m0",reason="breaker_open"}' in metrics
    ready = httpx.get(gateway.url + "/ready").json()
    assert ready["status"] == "ready" and ready["backends"]["m0"]["breaker"] == "open"
    ups[0].set_fault(None)
    time.sleep(1.6)  # after the cooldown the next request probes m0 (half-open) and closes the breaker
    assert chat(gateway).json()["model"] == "m0"
    assert 'pointsman_backend_breaker_state{backend="m0"} 0.0' in httpx.get(gateway.url + "/metrics").text


def test_direct_request_uses_configured_fallbacks(gateway, ups) -> None:
    ups[2].set_fault("status=500")
    resp = chat(gateway, model="m2")
    assert resp.status_code == 200 and resp.json()["model"] == "m1"
    ups[1].set_fault("status=500")
    assert chat(gateway, model="m1").status_code >= 500  # no fallbacks configured for m1


def test_client_disconnect_cancels_upstream(gateway, ups) -> None:
    ups[0].set_fault("first_byte_delay=1.5")

    async def leave_early(stream: bool) -> None:
        async with httpx.AsyncClient(timeout=0.4) as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.post(
                    gateway.url + "/v1/chat/completions",
                    json={"model": "m0", "stream": stream, "messages": [{"role": "user", "content": "x"}]},
                )

    asyncio.run(leave_early(False))
    asyncio.run(leave_early(True))
    time.sleep(0.3)
    sent = ups[0].requests()
    assert len(sent) == 2 and all(r.disconnected and not r.completed for r in sent)
    rows = wait_for_rows(gateway, 2)
    assert [r.status for r in rows] == [499, 499] and {r.error_code for r in rows} == {"client_closed"}


def test_graceful_shutdown_finishes_streams(ups, start_gateway) -> None:
    gw = start_gateway({"backends": backends_yaml(ups), "profiles": [{"name": "p", "candidates": ["m0"]}]})
    ups[0].set_fault("chunk_delay=0.1")
    result: dict = {}

    def consume() -> None:
        with httpx.stream(
            "POST",
            gw.url + "/v1/chat/completions",
            timeout=30,
            json={
                "model": "auto",
                "stream": True,
                "messages": [{"role": "user", "content": "w1 w2 w3 w4 w5 w6 w7"}],
            },
        ) as resp:
            result["events"] = [line for line in resp.iter_lines() if line.startswith("data: ")]

    reader = threading.Thread(target=consume)
    reader.start()
    time.sleep(0.35)  # mid-stream
    gw.stop()
    reader.join(10)
    assert result["events"][-1] == "data: [DONE]"
    assert len(result["events"]) >= 10
    rows = gw.gateway.log.recent(10)  # written before the gateway finished stopping
    assert len(rows) == 1 and rows[0].status == 200 and rows[0].error_code is None
    with pytest.raises(httpx.ConnectError):
        chat(gw)


@pytest.mark.parametrize("engine", ["granian", "uvicorn"])
def test_serve_command(engine, ups, tmp_path) -> None:
    """`pointsman serve` as its own process: answers, a client leaving cancels the upstream call, and SIGTERM
    mid-stream lets the stream finish ([DONE]), flushes the decision log and exits."""
    import signal
    import socket
    import sqlite3
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "gw.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "server": {"port": port, "graceful_timeout": 10, "engine": engine},
                "backends": backends_yaml(ups[:1]),
                "profiles": [{"name": "p", "candidates": ["m0"]}],
                "store": {"path": "log.db"},
            }
        )
    )
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "pointsman"), "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "the server did not start"
            time.sleep(0.1)
        assert chat(type("G", (), {"url": url})).json()["model"] == "m0"

        ups[0].set_fault("first_byte_delay=1.5")
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(
                url + "/v1/chat/completions",
                timeout=0.4,
                json={"model": "auto", "messages": [{"role": "user", "content": "x"}]},
            )
        time.sleep(0.3)
        left = ups[0].requests()[-1]
        assert left.disconnected and not left.completed

        ups[0].set_fault("chunk_delay=0.1")
        events: list[str] = []
        with httpx.stream(
            "POST",
            url + "/v1/chat/completions",
            timeout=30,
            json={
                "model": "auto",
                "stream": True,
                "messages": [{"role": "user", "content": "w1 w2 w3 w4 w5 w6"}],
            },
        ) as resp:
            lines = resp.iter_lines()
            events.append(next(lines))
            proc.send_signal(signal.SIGTERM)
            events.extend(line for line in lines if line.startswith("data: "))
        assert events[-1] == "data: [DONE]" and len(events) >= 9
        assert proc.wait(20) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once drained
    finally:
        if proc.poll() is None:
            proc.kill()
    with sqlite3.connect(tmp_path / "log.db") as db:
        rows = db.execute("SELECT status, stream FROM decisions ORDER BY time").fetchall()
    assert rows == [(200, 0), (499, 0), (200, 1)], proc.stdout.read() if proc.stdout else ""
