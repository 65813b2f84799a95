"""Running the gateway: `serve()` in the foreground (granian or uvicorn, both on uvloop), `BackgroundGateway`
in a thread with uvicorn (tests, the demo). Either way SIGTERM / stop() drains: no new connections, in-flight
requests and streams get `server.graceful_timeout` seconds to finish, then backends close and the decision
log is flushed.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from typing import Any

import uvicorn

from pointsman.config.gateway import GatewayConfig
from pointsman.config.loader import load_config
from pointsman.gateway.app import create_app
from pointsman.gateway.service import Gateway


def uvicorn_config(app: Any, config: GatewayConfig, **overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = dict(
        host=config.server.host,
        port=config.server.port,
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=config.server.access_log,
        timeout_graceful_shutdown=config.server.graceful_timeout,
        log_level="info",
        server_header=False,
        proxy_headers=config.server.proxy_headers,
        date_header=False,
    )
    options.update(overrides)
    return uvicorn.Config(app, **options)


def serve(path: str | Path, *, host: str | None = None, port: int | None = None, workers: int = 1) -> None:
    """Run the gateway on the config file at `path` until SIGINT/SIGTERM, on `server.engine`, in `workers`
    processes (gateway/workers.py)."""
    config = load_config(path)
    host = host if host is not None else config.server.host
    port = port if port is not None else config.server.port
    if config.server.engine == "granian":
        _serve_granian(Path(path), config, host, port, workers)
    elif workers > 1:
        from pointsman.gateway.workers import serve_workers

        serve_workers(Path(path), config, host, port, workers)
    else:
        gateway = Gateway(config)
        uvicorn.Server(uvicorn_config(create_app(gateway), config, host=host, port=port)).run()


def _serve_granian(path: Path, config: GatewayConfig, host: str, port: int, workers: int = 1) -> None:
    """Granian (a Rust HTTP server) with one single-threaded worker on uvloop; the worker builds the gateway
    from the config file (`app_from_env`). Measured here (benchmarks/gateway_overhead.py --engine): about
    0.15 ms more at p50 than uvicorn and fewer requests/s; each await of the server's receive/send crosses
    from its Rust thread to the event loop."""
    import os

    from granian import Granian

    os.environ["POINTSMAN_CONFIG"] = str(path.resolve())
    Granian(
        "pointsman.gateway.server:app_from_env",
        factory=True,
        address=host,
        port=port,
        interface="asgi",
        workers=workers,
        runtime_mode="st",
        loop="uvloop",
        log_access=config.server.access_log,
        workers_kill_timeout=max(1, round(config.server.graceful_timeout)),
    ).serve()


class BackgroundGateway:
    """A real gateway on a real port, served from a thread: `with BackgroundGateway(cfg) as gw: gw.url`."""

    def __init__(
        self, config: GatewayConfig, *, gateway: Gateway | None = None, log_level: str = "warning"
    ) -> None:
        self.config = config
        self.gateway = gateway or Gateway(config)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((config.server.host, config.server.port))
        self.port = self._sock.getsockname()[1]
        self.server = uvicorn.Server(
            uvicorn_config(create_app(self.gateway), config, port=self.port, log_level=log_level)
        )
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.server.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> BackgroundGateway:
        self._thread = threading.Thread(target=self._run, name="pointsman-gateway", daemon=True)
        self._thread.start()
        waited = 0.0
        while not self.server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"the gateway did not start: {self._error!r}")
            if waited > timeout:
                raise TimeoutError(f"the gateway did not start within {timeout} s")
            threading.Event().wait(0.01)
            waited += 0.01
        return self

    def _run(self) -> None:
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(self.server.serve(sockets=[self._sock]))
        except BaseException as exc:  # surfaced by start()/stop()
            self._error = exc

    def stop(self, timeout: float | None = None) -> None:
        """Graceful: stop accepting, finish in-flight requests, close backends, flush the decision log."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout if timeout is not None else self.config.server.graceful_timeout + 30)
        self._sock.close()

    def __enter__(self) -> BackgroundGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _loop_factory():
    try:
        import uvloop

        return uvloop.new_event_loop
    except ImportError:
        return None


def app_from_env():
    """An app factory for other ASGI servers: `granian --factory pointsman.gateway.server:app_from_env`, with
    the config file in $POINTSMAN_CONFIG."""
    import os

    from pointsman.gateway.app import create_app

    return create_app(Gateway(load_config(os.environ["POINTSMAN_CONFIG"])))
