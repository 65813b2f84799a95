"""Headless Chromium driven over the Chrome DevTools protocol (a websocket, no browser download): the
console's tests and its screenshot script use it.

`Browser()` starts the Debian `chromium` with a fresh profile, opens one page and records every console error
and uncaught exception in `errors`. `ensure_chromium()` installs the package with apt-get when missing and
running as root (CI's fresh machines).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
]


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, NAMES) if p), None)


def ensure_chromium() -> str | None:
    """The browser's path, installing Debian's `chromium` first if it is missing and we may (root, apt)."""
    found = find_chromium()
    if found or os.geteuid() != 0 or not shutil.which("apt-get"):
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True)
    subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=False, env=env, capture_output=True)
    return find_chromium()


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless page. `goto`, `evaluate`, `wait_for`, `set_files`, `screenshot`; `errors` collects what
    the page logged as errors (console.error, uncaught exceptions, failed loads)."""

    def __init__(self, executable: str | None = None, width: int = 1400, height: int = 1000) -> None:
        from websockets.sync.client import connect

        path = executable or find_chromium()
        if path is None:
            raise BrowserError("no chromium found (apt-get install chromium)")
        self._profile = tempfile.TemporaryDirectory(prefix="pointsman-chromium-")
        self._proc = subprocess.Popen(
            [
                path,
                *FLAGS,
                f"--user-data-dir={self._profile.name}",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its helpers (zygote, renderers, crashpad) join its process group
        )
        port = self._port(Path(self._profile.name) / "DevToolsActivePort")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            page = next(t for t in json.load(resp) if t["type"] == "page")
        self._ws = connect(page["webSocketDebuggerUrl"], max_size=64 * 2**20).__enter__()
        self._ids = itertools.count(1)
        self._events: list[dict] = []
        self.errors: list[str] = []
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    def _port(self, active: Path, timeout: float = 30.0) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrowserError(f"chromium exited with status {self._proc.returncode}")
            if active.exists() and active.read_text().strip():
                return int(active.read_text().split()[0])
            time.sleep(0.05)
        raise BrowserError("chromium did not open its DevTools port")

    # -- the protocol ---------------------------------------------------------------------------------

    def send(self, method: str, timeout: float = 30.0, **params: Any) -> dict:
        call = next(self._ids)
        self._ws.send(json.dumps({"id": call, "method": method, "params": params}))
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline - time.monotonic())
            if message.get("id") == call:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error'].get('message')}")
                return message.get("result", {})

    def _receive(self, timeout: float) -> dict:
        if timeout <= 0:
            raise BrowserError("timed out waiting for chromium")
        try:
            message = json.loads(self._ws.recv(timeout=timeout))
        except TimeoutError:
            raise BrowserError("timed out waiting for chromium") from None
        if "method" in message:
            self._note(message)
        return message

    def _note(self, event: dict) -> None:
        self._events.append(event)
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.errors.append(
                " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            )
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.errors.append(
                details.get("exception", {}).get("description") or details.get("text", "exception")
            )
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            self.errors.append(f"{entry.get('text')} ({entry.get('url', '')})")

    def _wait_event(self, method: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            for i, event in enumerate(self._events):
                if event["method"] == method:
                    return self._events.pop(i)
            self._receive(deadline - time.monotonic())

    # -- what tests do --------------------------------------------------------------------------------

    def goto(self, url: str, timeout: float = 30.0) -> None:
        self._events.clear()
        self.send("Page.navigate", url=url)
        self._wait_event("Page.loadEventFired", timeout)

    def evaluate(self, expression: str, timeout: float = 30.0) -> Any:
        """The expression's value (awaited if a promise), as JSON; a page exception raises BrowserError."""
        result = self.send(
            "Runtime.evaluate", timeout, expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            d = result["exceptionDetails"]
            raise BrowserError(d.get("exception", {}).get("description") or d.get("text"))
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        """Poll until `expression` is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError(f"timed out waiting for: {expression}")
            time.sleep(0.05)

    def set_files(self, selector: str, *paths: Path) -> None:
        root = self.send("DOM.getDocument")["root"]["nodeId"]
        node = self.send("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.send("DOM.setFileInputFiles", nodeId=node, files=[str(Path(p).resolve()) for p in paths])

    def screenshot(self, path: Path) -> Path:
        """The whole page (not just the viewport) as a PNG."""
        shot = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        Path(path).write_bytes(base64.b64decode(shot["data"]))
        return Path(path)

    def close(self) -> None:
        try:
            self._ws.close()
        finally:
            self._stop()
            self._remove_profile()

    def _stop(self) -> None:
        """Stop chromium and every helper it started: a helper still running writes into the profile while
        it is being removed."""
        group = self._proc.pid
        _signal_group(group, signal.SIGTERM)
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(group, signal.SIGKILL)
        self._proc.wait()

    def _remove_profile(self, attempts: int = 20) -> None:
        for _ in range(attempts - 1):
            try:
                self._profile.cleanup()
                return
            except OSError:  # a dying helper's last write; it is gone in a moment
                time.sleep(0.1)
        shutil.rmtree(self._profile.name, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _signal_group(group: int, sig: signal.Signals) -> None:
    try:
        os.killpg(group, sig)
    except ProcessLookupError:
        pass
