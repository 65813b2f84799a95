"""What a valid config still needs from this machine before `serve` can start it (API keys in the
environment, model and replay files), and advice about configs that work but may not do what was meant.

`pointsman config check` reports both (the machine checks can be skipped with `--no-env`, e.g. in CI
without the secrets); `pointsman serve` refuses the machine problems with one message and exit 2.
"""

from __future__ import annotations

import os
from pathlib import Path

from pointsman.config.backends import ENDPOINTS
from pointsman.config.gateway import GatewayConfig
from pointsman.config.problems import Problem


def machine_problems(cfg: GatewayConfig) -> list[Problem]:
    """What would make the gateway fail at startup on this machine, named by key path."""
    from pointsman.backends.llamacpp import resolve_model_path

    out: list[Problem] = []
    for i, b in enumerate(cfg.backends):
        if b.api_key_env and not os.environ.get(b.api_key_env):
            out.append(
                Problem(
                    ("backends", i, "api_key_env"),
                    f"the environment variable {b.api_key_env} is not set: export it before `pointsman serve` "
                    "(`config check --no-env` checks the rest)",
                )
            )
        if b.kind == "llamacpp" and b.model_path:
            try:
                resolve_model_path(b.model_path)
            except ValueError as exc:
                out.append(Problem(("backends", i, "model_path"), str(exc)))
        if b.kind == "replay" and b.replay_data and not Path(b.replay_data).exists():
            out.append(Problem(("backends", i, "replay_data"), f"no such file or folder: {b.replay_data}"))
    return out


def advice(cfg: GatewayConfig) -> list[Problem]:
    """Configs that load and serve, but likely not as meant."""
    out: list[Problem] = []
    for i, b in enumerate(cfg.backends):
        url = b.base_url or ""
        if b.kind == "openai" and "/" not in url.partition("://")[2]:
            out.append(
                Problem(
                    ("backends", i, "base_url"),
                    f"no path: requests go to {url}{ENDPOINTS['openai']}; OpenAI, vLLM and Ollama serve it "
                    f"under /v1 (use {url}/v1)",
                )
            )
    if not cfg.profiles:
        out.append(
            Problem(
                ("profiles",),
                "none configured: model 'auto' tries the backends in config order "
                f"({', '.join(b.name for b in cfg.backends)})",
            )
        )
    return out
