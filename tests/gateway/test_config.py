"""Gateway config: every example validates; every kind of mistake is named by key path and line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pointsman.config.loader import ConfigError, load_config, parse_config

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = """
backends:
  - {name: a, kind: openai, base_url: "http://127.0.0.1:1/v1"}
  - {name: b, kind: openai, base_url: "http://127.0.0.1:1/v1"}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="g.yaml")
    return str(info.value).splitlines()


@pytest.mark.parametrize("path", sorted((ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_examples_validate(path: Path) -> None:
    text = path.read_text()
    if "backends:" not in text or "profiles:" not in text and "rules:" not in text:
        pytest.skip("not a gateway config")
    load_config(path)


def test_unknown_backend_is_named_with_path_and_line() -> None:
    text = (
        BACKENDS
        + "profiles:\n  - name: p\n    candidates: [a]\n  - name: q\n    candidates:\n      - gpt-5\n"
    )
    assert problems(text) == ["g.yaml:10: profiles[1].candidates[0]: unknown backend 'gpt-5' (known: a, b)"]


@pytest.mark.parametrize(
    "snippet, expected",
    [
        ("profiles: [{name: p, candidates: [a], colour: red}]", "profiles[0].colour: unknown key"),
        ("profiles: [{name: p}]", "profiles[0].candidates: required key is missing"),
        ("profiles: [{name: auto, candidates: [a]}]", "profiles[0].name: 'auto' is reserved"),
        ("profiles: [{name: a, candidates: [a]}]", "profiles[0].name: 'a' is also a backend name"),
        ("profiles: [{name: p, candidates: [a, a]}]", "profiles[0].candidates[1]: 'a' is listed twice"),
        (
            "profiles: [{name: p, candidates: [a], selector: {order: [b]}}]",
            "profiles[0].selector.order[0]: 'b' is not one of this profile's candidates",
        ),
        (
            "profiles: [{name: p, candidates: [a], objective: {lambda: 1}}]",
            "profiles[0].objective: an objective needs predictions",
        ),
        (
            "profiles: [{name: p, candidates: [a], selector: {router: nowhere.npz}}]",
            "profiles[0].selector.router: /",
        ),
        (
            "profiles: [{name: p, candidates: [a], exploration: 1.5}]",
            "profiles[0].exploration: Input should be less",
        ),
        (
            "profiles: [{name: p, candidates: [a]}]\nrules: [{name: r, profile: nope}]",
            "rules[0].profile: unknown profile 'nope' (known: p)",
        ),
        (
            "profiles: [{name: p, candidates: [a]}]\nrules: [{name: r, profile: p, when: {regex: '('}}]",
            "rules[0].when.regex: bad regular expression",
        ),
        (
            "profiles: [{name: p, candidates: [a]}]\nrules: [{name: r, profile: p, when: {}}]",
            "rules[0].when: empty condition",
        ),
        (
            "profiles: [{name: p, candidates: [a]}]\n"
            "rules: [{name: r, profile: p, when: {prompt_tokens: {}}}]",
            "rules[0].when.prompt_tokens: give at least one of gt, ge, lt, le",
        ),
        (
            "profiles: [{name: p, candidates: [a]}]\n"
            "rules: [{name: r, profile: p, when: {any: [{tools: maybe}]}}]",
            "rules[0].when.any[0].tools: Input should be a valid boolean",
        ),
        (
            "profiles: [{name: p, candidates: [a]}]\nrules: [{name: r, profile: p, models: [a]}]",
            "rules[0].models[0]: 'a' is a backend",
        ),
        ("default_profile: nope", "default_profile: unknown profile 'nope'"),
        ("fallbacks: {a: [c]}", "fallbacks.a[0]: unknown backend 'c'"),
        ("auth: {enabled: true}", "auth: auth is enabled but no keys"),
        ("auth: {keys: [{id: k, tenant: t, sha256: secret}]}", "auth.keys[0].sha256: must be 64 hex digits"),
        ("server: {port: http}", "server.port: Input should be a valid integer"),
        ("store: {kind: mongo}", "store.kind: Input should be 'sqlite', 'postgres' or 'none'"),
    ],
)
def test_mistakes_are_named(snippet: str, expected: str, tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text(BACKENDS + snippet + "\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert f": {expected}" in text, text


def test_backend_mistakes_come_from_backend_config() -> None:
    text = "backends:\n  - {name: a, kind: openai}\n  - {name: b, kind: grpc, base_url: x}\n"
    out = problems(text)
    assert any(line.startswith("g.yaml:2: backends[0]") and "base_url is required" in line for line in out), (
        out
    )
    assert any(line.startswith("g.yaml:3: backends[1].kind") for line in out), out


def test_not_yaml_and_not_a_mapping() -> None:
    assert problems("backends: [\n")[0].startswith("g.yaml:2: not valid YAML")
    assert problems("- a\n- b\n") == [
        "g.yaml: expected a mapping of sections (server, backends, profiles, ...)"
    ]


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config("/nonexistent/gateway.yaml")


def test_relative_paths_resolve_against_the_config(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    path = tmp_path / "sub" / "g.yaml"
    path.write_text(BACKENDS + "store: {path: logs/decisions.db}\n")
    cfg = load_config(path)
    assert cfg.store.path == str(tmp_path / "sub" / "logs" / "decisions.db")


def test_config_check_command(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(BACKENDS + "profiles: [{name: p, candidates: [a, b]}]\n")
    bad.write_text(BACKENDS + "profiles: [{name: p, candidates: [a, gpt-5]}]\n")
    cmd = [str(Path(sys.executable).parent / "pointsman"), "config", "check"]
    ok = subprocess.run([*cmd, str(good)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert "valid" in ok.stdout and "profile p (default for 'auto'): a, b" in ok.stdout
    failed = subprocess.run([*cmd, str(bad)], capture_output=True, text=True)
    assert failed.returncode == 2
    assert "profiles[0].candidates[1]: unknown backend 'gpt-5'" in failed.stderr
