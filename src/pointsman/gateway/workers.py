"""`pointsman serve --workers N`: N gateway processes on one port, sharing the state.

The parent binds the socket once and starts N worker processes (uvicorn's supervisor, or granian's); the
kernel spreads connections between them. Each worker builds its own gateway from the config file
(`app_from_env`), so what they must agree on (rate limits, budgets, breakers) has to live in a shared state:
`state: {kind: redis}`. SIGTERM drains every worker (`server.graceful_timeout`), and a worker that dies is
replaced.
"""

from __future__ import annotations

import inspect
import logging
import os
from pathlib import Path

import uvicorn
from uvicorn.supervisors import Multiprocess

from pointsman.config.gateway import GatewayConfig

log = logging.getLogger("pointsman.gateway")
APP = "pointsman.gateway.server:app_from_env"


def serve_workers(path: Path, config: GatewayConfig, host: str, port: int, workers: int) -> None:
    from pointsman.gateway.server import uvicorn_config

    if config.state.kind == "embedded":
        log.warning(
            "serve --workers %d with an embedded state: rate limits, budgets and breakers are per worker, "
            "not shared (configure state: {kind: redis})",
            workers,
        )
    os.environ["POINTSMAN_CONFIG"] = str(path.resolve())
    cfg = uvicorn_config(APP, config, host=host, port=port, factory=True, workers=workers)
    sockets = [cfg.bind_socket()]
    if "target" in inspect.signature(Multiprocess).parameters:  # uvicorn < 0.50 asks for the worker's target
        Multiprocess(cfg, target=uvicorn.Server(cfg).run, sockets=sockets).run()  # type: ignore[call-arg]
    else:
        Multiprocess(cfg, sockets=sockets).run()
