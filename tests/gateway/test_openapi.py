"""The OpenAPI spec is true to the implementation: real responses validate against it, and schemathesis,
generating requests from it, finds no server error and no response that contradicts it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import orjson
import pytest

jsonschema = pytest.importorskip("jsonschema")


@pytest.fixture()
def spec(gateway) -> dict:
    spec = httpx.get(gateway.url + "/openapi.json").json()
    assert spec["openapi"] == "3.1.0"
    return spec


def check(spec: dict, name: str, instance: object) -> None:
    schema = {**spec["components"]["schemas"][name], "components": spec["components"]}
    jsonschema.validate(instance, schema, cls=jsonschema.Draft202012Validator)


def test_real_responses_match_the_spec(gateway, spec) -> None:
    url = gateway.url
    good = {"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    resp = httpx.post(url + "/v1/chat/completions", json=good)
    check(spec, "ChatCompletion", resp.json())
    documented = spec["paths"]["/v1/chat/completions"]["post"]["responses"]
    always = {h for h, spec in documented["200"]["headers"].items() if spec.get("required") is not False}
    assert always <= set(resp.headers)
    stream = httpx.post(url + "/v1/chat/completions", json={**good, "stream": True})
    events = [line[6:] for line in stream.text.split("\n") if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    for event in events[:-1]:
        check(spec, "ChatCompletionChunk", orjson.loads(event))
    for body, status in [(b"{", 400), (orjson.dumps({**good, "model": "nope"}), 404)]:
        err = httpx.post(url + "/v1/chat/completions", content=body)
        assert err.status_code == status and str(status) in documented
        check(spec, "Error", err.json())
    check(spec, "ModelList", httpx.get(url + "/v1/models").json())
    check(spec, "Health", httpx.get(url + "/health").json())
    check(spec, "Ready", httpx.get(url + "/ready").json())
    model = spec["paths"]["/v1/models/{model}"]["get"]["responses"]["200"]["content"]["application/json"]
    jsonschema.validate(
        httpx.get(url + "/v1/models/m0").json(), {**model["schema"], "components": spec["components"]}
    )
    check(spec, "Error", httpx.get(url + "/v1/models/nope").json())
    assert set(spec["paths"]) == {
        "/v1/chat/completions",
        "/v1/models",
        "/v1/models/{model}",
        "/health",
        "/ready",
        "/metrics",
        "/v1/feedback",
    }


def test_schemathesis_finds_nothing(gateway, tmp_path: Path) -> None:
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    run = subprocess.run(
        [
            exe,
            "run",
            gateway.url + "/openapi.json",
            "--checks",
            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance",
            "--max-examples",
            "15",
            "--workers",
            "1",
            "--phases",
            "coverage",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=150,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stdout[-4000:]
