"""Gateway replicas as real processes (`pointsman serve`), for the scale-out tests and benchmark.

`GatewayProcess(config_path, port)` runs `pointsman serve` in a subprocess with this interpreter and the same
import path, waits until it answers /health, and stops it with SIGTERM (a graceful drain) or SIGKILL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Self

from pointsman.testing.redis import free_port

__all__ = ["GatewayProcess"]


class GatewayProcess:
    def __init__(
        self, config: str | Path, *, port: int | None = None, workers: int = 1, log: str | Path | None = None
    ) -> None:
        self.config = Path(config)
        self.port = port or free_port()
        self.workers = workers
        self.log_path = Path(log) if log else None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> Self:
        cmd = [
            sys.executable,
            "-c",
            "from pointsman.cli import main; main()",
            "serve",
            str(self.config),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=dict(os.environ))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gateway exited with {self.process.returncode} (log: {self.log_path})")
            if self.healthy():
                return self
            time.sleep(0.1)
        self.kill()
        raise TimeoutError(f"gateway on port {self.port} did not answer /health within {timeout} s")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=1) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def children(self) -> list[int]:
        """Every child process (Linux /proc): `--workers N`'s workers and multiprocessing's helpers."""
        if self.process is None:
            return []
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []

    def worker_pids(self) -> list[int]:
        """The worker processes of `--workers N` (started by multiprocessing's spawn)."""
        out = []
        for pid in self.children():
            try:
                if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    out.append(pid)
            except OSError:
                pass
        return out

    def terminate(self, timeout: float = 60.0) -> int | None:
        """SIGTERM: stop accepting, drain in-flight requests, exit. Returns the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL (a crash): in-flight requests are lost; `--workers` children are killed too."""
        for pid in self.children():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.terminate()
