"""A cascade profile's config: every mistake named at its key, and a scorer file that is checked."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pointsman.config.loader import ConfigError, parse_config


def _config(cascade: dict, candidates: list[str] | None = None) -> str:
    return yaml.safe_dump(
        {
            "backends": [
                {"name": n, "kind": "openai", "base_url": "http://127.0.0.1:9/v1"} for n in ("a", "b", "c")
            ],
            "profiles": [{"name": "cas", "candidates": candidates or ["a", "b", "c"], "cascade": cascade}],
        }
    )


STEPS = [{"model": "a", "threshold": 0.7}, {"model": "b", "threshold": 0.6}, {"model": "c"}]


@pytest.mark.parametrize(
    ("cascade", "candidates", "why"),
    [
        ({"scorer": "s.npz", "steps": STEPS}, ["a", "b"], r"cascade steps \['c'\] are not candidates"),
        ({"scorer": "s.npz", "steps": [STEPS[0], {"model": "b"}, STEPS[2]]}, None, r"steps \[1\] need a threshold"),
        ({"scorer": "s.npz", "steps": [STEPS[0], {"model": "c", "threshold": 0.5}]}, None, "takes no threshold"),
        ({"scorer": "s.npz", "steps": [STEPS[0], STEPS[0], STEPS[2]]}, None, "appears twice in the cascade: a"),
        ({"scorer": "s.npz", "steps": [STEPS[2]]}, None, "at least 2 items"),
        ({"scorer": "s.npz", "steps": [{"model": "a", "threshold": 1.5}, STEPS[2]]}, None, "less than or equal to 1"),
        ({"scorer": "s.npz", "steps": STEPS, "stream": "sometimes"}, None, "'accepted' or 'first_step'"),
        ({"steps": STEPS}, None, "scorer"),
    ],
)  # fmt: skip
def test_bad_cascades_are_named(cascade, candidates, why, tmp_path: Path):
    with pytest.raises(ConfigError, match=why) as info:
        parse_config(_config(cascade, candidates), source="g.yaml", base_dir=tmp_path)
    assert "profiles[0]" in str(info.value)


def test_a_missing_or_bad_scorer_file(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"profiles\[0\]\.cascade\.scorer: .*no such answer scorer file"):
        parse_config(_config({"scorer": "s.npz", "steps": STEPS}), source="g.yaml", base_dir=tmp_path)
    (tmp_path / "s.npz").write_bytes(b"junk")
    with pytest.raises(ConfigError, match=r"profiles\[0\]\.cascade\.scorer"):
        parse_config(_config({"scorer": "s.npz", "steps": STEPS}), source="g.yaml", base_dir=tmp_path)
