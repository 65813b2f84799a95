"""What a team hits on its first day (issue 14), each through the real gateway, the openai client or the CLI."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
import yaml
from typer.testing import CliRunner

from pointsman.cli import app
from pointsman.config.loader import ConfigError, load_config, parse_config
from pointsman.gateway.auth import hash_key

from .servers import backends_yaml, wait_for_rows

ROOT = Path(__file__).resolve().parents[2]
USER_KEY, ADMIN_KEY = "pm-user-key", "pm-admin-key"


def client(gw, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def hello(gw, **fields) -> httpx.Response:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hi"}], **fields}
    return httpx.post(gw.url + "/v1/chat/completions", json=body, timeout=30)


def cli(*args: str, env: dict | None = None):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "120", **(env or {})})


def write(tmp_path: Path, config: dict, name: str = "g.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return path


# -- 1. base_url ---------------------------------------------------------------------------------------


def test_anthropic_base_url_works_as_a_bare_host_or_with_v1(ups, start_gateway) -> None:
    bare = ups[0].server.url  # http://127.0.0.1:PORT, as examples/gateway.yaml had it
    backends = [
        {"name": "claude", "kind": "anthropic", "base_url": bare, "model": "claude-test"},
        {"name": "claude-v1", "kind": "anthropic", "base_url": bare + "/v1/", "model": "claude-test"},
    ]
    gw = start_gateway({"backends": backends})
    for model in ("claude", "claude-v1"):
        reply = client(gw).chat.completions.create(model=model, messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "You said: hi"
    assert [r.path for r in ups[0].requests()] == ["/v1/messages", "/v1/messages"]
    example = load_config(ROOT / "examples" / "gateway.yaml")
    assert example.backend("claude-sonnet").base_url == "https://api.anthropic.com/v1"


def test_a_base_url_with_the_endpoint_is_refused_with_the_fix() -> None:
    text = 'backends: [{name: a, kind: openai, base_url: "http://h:8000/v1/chat/completions"}]'
    with pytest.raises(ConfigError, match="appends '/chat/completions' itself: use 'http://h:8000/v1'"):
        parse_config(text)


# -- 2, 3. config check reports what serve refuses; auto without profiles -------------------------------


def test_check_and_serve_refuse_an_unset_api_key_env_without_a_traceback(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("POINTSMAN_TEST_UNSET_KEY", raising=False)
    backend = {
        "name": "a",
        "kind": "openai",
        "base_url": "http://127.0.0.1:9",
        "api_key_env": "POINTSMAN_TEST_UNSET_KEY",
    }
    path = write(tmp_path, {"backends": [backend]})
    for args in (["config", "check", str(path)], ["serve", str(path)], ["serve", "--config", str(path)]):
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert "POINTSMAN_TEST_UNSET_KEY is not set" in result.output
        assert "Traceback" not in result.output
    checked = cli("config", "check", "--no-env", "--config", str(path))
    assert checked.exit_code == 0, checked.output
    assert (
        "warning:" in checked.output
        and "model 'auto' tries the backends in config order (a)" in checked.output
    )
    assert "requests go to http://127.0.0.1:9/chat/completions" in checked.output  # a bare OpenAI host


def test_auto_without_profiles_tries_the_backends_in_config_order(ups, start_gateway) -> None:
    gw = start_gateway({"backends": backends_yaml(ups)[:2]})
    raw = client(gw).chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.parse().model == "m0" and raw.headers["x-pointsman-route"] == "direct"
    ups[0].set_fault("status=500")
    assert (
        client(gw).chat.completions.create(model="auto", messages=[{"role": "user", "content": "hi"}]).model
        == "m1"
    )
    auto = client(gw).models.retrieve("auto")
    assert auto.pointsman == {"kind": "route", "profile": None, "order": ["m0", "m1"]}  # type: ignore[attr-defined]


# -- 4-7. answers and errors ----------------------------------------------------------------------------


def test_max_tokens_beyond_every_window_names_max_tokens(gateway) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client(gateway).chat.completions.create(
            model="auto", messages=[{"role": "user", "content": "hi"}], max_tokens=100_000_000
        )
    assert info.value.param == "max_tokens" and info.value.code == "context_length_exceeded"
    assert "max_tokens exceeds what every candidate model can produce" in info.value.message
    too_long = hello(gateway, messages=[{"role": "user", "content": "word " * 5000}])
    assert too_long.status_code == 400 and too_long.json()["error"]["param"] is None
    assert "the prompt is too long" in too_long.json()["error"]["message"]


def test_a_message_without_content_is_refused_naming_its_index(gateway, ups) -> None:
    resp = hello(gateway, messages=[{"role": "system", "content": "be brief"}, {"role": "user"}])
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == "messages[1].content"
    assert resp.json()["error"]["code"] == "missing_required_parameter"
    call = {
        "role": "assistant",
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    ok = hello(
        gateway,
        messages=[
            {"role": "user", "content": "x"},
            call,
            {"role": "tool", "tool_call_id": "c1", "content": "4"},
        ],
    )
    assert ok.status_code == 200, ok.text  # an assistant turn with tool calls needs no content
    assert not any(
        m.get("content") is None and m["role"] == "user"
        for r in ups[0].requests()
        for m in r.body["messages"]
    )


def _failing(ups, start_gateway, **debug):
    backends = backends_yaml(ups, retry={"attempts": 2, "backoff": 0.01})[:2]
    backends.append(
        {"name": "gone", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "timeouts": {"connect": 1}}
    )
    ups[0].set_fault("status=500")
    ups[1].set_fault("status=503")
    return start_gateway(
        {
            "backends": backends,
            "profiles": [{"name": "p", "candidates": ["m0", "m1", "gone"]}],
            "debug": debug,
        }
    )


def test_the_all_failed_error_is_safe_and_names_each_attempt_once(ups, start_gateway) -> None:
    gw = _failing(ups, start_gateway)
    resp = hello(gw)
    assert resp.status_code == 502
    message = resp.json()["error"]["message"]
    assert message == (
        "No model could answer (tried m0: upstream_500 (2 tries); m1: upstream_503 (2 tries); gone: connect_error "
        "(2 tries))"
    )
    assert "127.0.0.1" not in message and "injected" not in message
    [row] = wait_for_rows(gw, 1)
    assert "127.0.0.1:9" in row.error_detail  # the detail: in the decision record ...
    assert any("injected fault" in (f["message"] or "") for f in row.fallbacks)


def test_debug_upstream_errors_adds_the_detail(ups, start_gateway) -> None:
    gw = _failing(ups, start_gateway, upstream_errors=True)
    message = hello(gw).json()["error"]["message"]
    assert (
        message.startswith("No model could answer")
        and "upstream said:" in message
        and "127.0.0.1:9" in message
    )


# -- 8. models.retrieve, trailing slashes, request ids ---------------------------------------------------


def test_models_retrieve_trailing_slash_and_the_clients_request_ids(gateway) -> None:
    assert client(gateway).models.retrieve("m0").owned_by == "openai"
    with pytest.raises(openai.NotFoundError, match="'nope' does not exist"):
        client(gateway).models.retrieve("nope")
    listed = httpx.get(gateway.url + "/v1/models/")
    assert listed.status_code == 200 and listed.json() == httpx.get(gateway.url + "/v1/models").json()
    missing = httpx.get(gateway.url + "/no/such/")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    resp = httpx.post(
        gateway.url + "/v1/chat/completions/",
        json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-request-id": "client-42", "traceparent": trace},
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-client-request-id"] == "client-42" and resp.headers["x-request-id"].startswith(
        "req_"
    )
    [row] = wait_for_rows(gateway, 1)
    assert (row.request_id, row.client_request_id, row.traceparent) == (
        resp.headers["x-request-id"],
        "client-42",
        trace,
    )


# -- 9, 10. auth on every endpoint; the tenant of a rate-limited request ---------------------------------


def _keys(**auth) -> dict:
    keys = [
        {"id": "user", "tenant": "acme", "sha256": hash_key(USER_KEY), "requests_per_minute": 1},
        {"id": "ops", "tenant": "acme", "sha256": hash_key(ADMIN_KEY), "admin": True},
    ]
    return {"enabled": True, "keys": keys, **auth}


def test_with_auth_models_need_a_key_and_metrics_ready_an_admin_key(ups, start_gateway) -> None:
    gw = start_gateway({"backends": backends_yaml(ups), "auth": _keys()})
    bearer = lambda key: {"authorization": f"Bearer {key}"}  # noqa: E731
    for path in ("/v1/models", "/v1/models/m0"):
        assert httpx.get(gw.url + path).status_code == 401
        assert httpx.get(gw.url + path, headers=bearer(USER_KEY)).status_code == 200
    with pytest.raises(openai.AuthenticationError):
        client(gw, "pm-wrong").models.list()
    for path in ("/metrics", "/ready"):
        assert httpx.get(gw.url + path).status_code == 401
        denied = httpx.get(gw.url + path, headers=bearer(USER_KEY))
        assert denied.status_code == 403 and denied.json()["error"]["code"] == "not_admin"
        assert httpx.get(gw.url + path, headers=bearer(ADMIN_KEY)).status_code == 200
    assert httpx.get(gw.url + "/health").status_code == 200
    probes = start_gateway(
        {"backends": backends_yaml(ups), "auth": _keys(public_endpoints=["health", "ready", "metrics"])}
    )
    assert (
        httpx.get(probes.url + "/metrics").status_code == 200
        and httpx.get(probes.url + "/ready").status_code == 200
    )
    assert httpx.get(probes.url + "/v1/models").status_code == 401


def test_a_rate_limited_request_is_logged_with_its_tenant_and_key(ups, start_gateway) -> None:
    gw = start_gateway({"backends": backends_yaml(ups), "auth": _keys()})
    ai = client(gw, USER_KEY)
    ai.chat.completions.create(model="m0", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.RateLimitError):
        ai.chat.completions.create(model="m0", messages=[{"role": "user", "content": "hi"}])
    rows = wait_for_rows(gw, 2)
    limited = next(r for r in rows if r.status == 429)
    assert (limited.tenant, limited.api_key_id) == ("acme", "user")


# -- 11, 12. no silent spill; retries, fallbacks and skips counted apart ---------------------------------


def _busy(ups, start_gateway, spill: dict | None):
    backends = backends_yaml(ups)[:2]
    backends[0].update(max_concurrency=1, timeouts={"connect": 1, "first_byte": 5, "queue": 0.05})
    profile = {"name": "p", "candidates": ["m0", "m1"], **({"spill": spill} if spill else {})}
    gw = start_gateway({"backends": backends, "profiles": [profile]})
    ups[0].inject("first_byte_delay=1.0")
    before = len(ups[0].requests())
    slow = threading.Thread(target=hello, args=(gw,))
    slow.start()
    deadline = time.monotonic() + 5
    while len(ups[0].requests()) == before and time.monotonic() < deadline:  # m0's one slot is taken
        time.sleep(0.01)
    resp = hello(gw)
    slow.join()
    return gw, resp


def test_a_saturated_model_answers_503_with_retry_after_not_a_pricier_spill(ups, start_gateway) -> None:
    gw, resp = _busy(ups, start_gateway, spill=None)
    assert resp.status_code == 503 and resp.json()["error"]["code"] == "saturated"
    assert int(resp.headers["retry-after"]) >= 1 and not ups[1].requests()
    assert 'pointsman_skips_total{model="m0",reason="saturated"} 1.0' in httpx.get(gw.url + "/metrics").text
    _, capped = _busy(ups, start_gateway, spill={"max_cost_ratio": 1.5})  # m1 costs 2x m0: over the ceiling
    assert capped.status_code == 503 and not ups[1].requests()


def test_an_explicit_spill_is_shown_and_counted(ups, start_gateway) -> None:
    gw, resp = _busy(ups, start_gateway, spill={"max_cost_ratio": 3})
    assert resp.status_code == 200 and resp.json()["model"] == "m1"
    assert resp.headers["x-pointsman-spill"] == "m0 -> m1"
    assert 'pointsman_spills_total{model="m0",to="m1"} 1.0' in httpx.get(gw.url + "/metrics").text


def test_retries_fallbacks_and_skips_are_separate_counters(ups, start_gateway) -> None:
    backends = backends_yaml(
        ups, retry={"attempts": 2, "backoff": 0.01}, breaker={"failures": 2, "cooldown": 30}
    )
    gw = start_gateway({"backends": backends, "profiles": [{"name": "p", "candidates": ["m0", "m1"]}]})
    ups[0].set_fault("status=500")
    assert (
        hello(gw).json()["model"] == "m1"
    )  # m0 twice (one retry), then a fallback to m1; m0's breaker opens
    assert hello(gw).json()["model"] == "m1"  # m0 skipped
    metrics = httpx.get(gw.url + "/metrics").text
    assert 'pointsman_retries_total{code="upstream_500",model="m0"} 1.0' in metrics
    assert 'pointsman_fallbacks_total{code="upstream_500",model="m0"} 1.0' in metrics
    assert 'pointsman_skips_total{model="m0",reason="breaker_open"} 1.0' in metrics


# -- 13. CLI polish ---------------------------------------------------------------------------------------


def test_help_shows_flags_without_a_type() -> None:
    out = cli("explain", "--help").output
    assert "--json" in out and "<bool>" not in out


def test_train_names_its_own_flag_and_the_routers() -> None:
    from pointsman.commands.lab import ROUTER_NAMES
    from pointsman.routers.registry import router_names

    assert ROUTER_NAMES == ", ".join(router_names())
    result = cli("train", "--router", "nosuch", "--data", str(ROOT), "--output", "x.npz")
    assert result.exit_code != 0 and "--router: unknown router 'nosuch'; known: best-single" in result.output
    assert "--routers" not in result.output
    assert "mixture" in cli("eval", "--help").output


def test_check_and_explain_show_the_keywords_the_rules_read(tmp_path) -> None:
    config = {
        "backends": [{"name": "a", "kind": "openai", "base_url": "http://127.0.0.1:9/v1"}],
        "profiles": [{"name": "p", "candidates": ["a"]}],
        "rules": [{"name": "code", "when": {"keywords": ["python"]}, "profile": "p"}],
    }
    path = write(tmp_path, config)
    assert "signals the rules read: keywords" in cli("config", "check", "--config", str(path)).output
    explained = cli("explain", "-c", str(path), "write python")
    assert "keywords" in explained.output and "looks for python" in explained.output


def test_config_mistakes_read_well() -> None:
    backends = 'backends: [{name: a, kind: openai, base_url: "http://h/v1"}, {name: a, kind: openai, base_url: "http://h/v1"}]\n'
    with pytest.raises(ConfigError) as typo:
        parse_config(backends + "limits: {request_per_minute: 5}\n", source="g.yaml")
    assert "limits.request_per_minute: unknown key (did you mean 'requests_per_minute'?)" in str(typo.value)
    with pytest.raises(ConfigError) as dup:
        parse_config(backends + "profiles: [{name: p, candidates: [b]}]\n", source="g.yaml")
    assert "duplicate backend name 'a' (also backends[0])" in str(dup.value)
    assert "(known: a)" in str(dup.value) and "a, a" not in str(dup.value)
