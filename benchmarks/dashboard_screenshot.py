"""The console's screenshot for docs/dashboard.md, from a real run on the demo config.

Builds `pointsman demo`'s gateway (eight replay backends with RouteProfile's recorded answers, the local
SmolLM2, the `auto-router` profile ranked by a trained router, the small-talk rule, a SQLite log), sends the
demo's requests plus EXTRA more prompts from the recordings (held out of the router's training data, like the
demo's own), opens /dashboard in headless Chromium, opens one routed decision and writes the PNG.

    python benchmarks/dashboard_screenshot.py [--out docs/img/dashboard.png] [--extra 40] [--skip-local]
"""

from __future__ import annotations

import argparse
import random
import re
import tempfile
import time
from pathlib import Path

from rich.console import Console

from pointsman.data.loaders import load_dataset
from pointsman.gateway import demo
from pointsman.gateway.server import BackgroundGateway
from pointsman.testing.browser import Browser, ensure_chromium

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "img" / "dashboard.png")
    ap.add_argument("--extra", type=int, default=40, help="prompts sent besides the demo's")
    ap.add_argument("--data", type=Path, default=demo.default_data_dir())
    ap.add_argument(
        "--skip-local",
        action="store_true",
        help="send nothing the small-talk rule routes to the local SmolLM2 (when llama.cpp cannot run here)",
    )
    args = ap.parse_args()
    console = Console()
    chromium = ensure_chromium()
    if chromium is None:
        console.print("[red]chromium is not installed[/] (apt-get install chromium)")
        return 2
    recordings = args.data / "routeprofile" / "routing_test_data.json"
    dataset = load_dataset(recordings.parent, "routeprofile")
    shots = demo.pick_shots(dataset)
    rng = random.Random(0)
    extra = rng.sample([p for p in dataset.prompts if len(p) < 400], args.extra)
    shots += [demo.Shot("extra", "auto", p, stream=i % 3 == 0) for i, p in enumerate(extra)]
    if args.skip_local:
        small_talk = re.compile(r"\b(" + "|".join(map(re.escape, demo.SMALL_TALK)) + r")\b", re.IGNORECASE)
        shots = [s for s in shots if not small_talk.search(s.prompt)]
    router = demo.trained_router(dataset, {s.prompt for s in shots}, console)
    with tempfile.TemporaryDirectory(prefix="pointsman-shot-") as tmp:
        config = demo.demo_config(dataset, recordings, router, Path(tmp), 0)
        with console.status("starting the demo gateway ..."):
            gw = BackgroundGateway(config).start(timeout=300)
        try:
            ask_all(gw, shots, console)
            time.sleep(0.5)  # the log's writer flushes every 0.1 s
            shoot(gw.url, chromium, args.out)
        finally:
            gw.stop()
    console.print(f"wrote {args.out}")
    return 0


def ask_all(gw: BackgroundGateway, shots: list[demo.Shot], console: Console) -> None:
    import openai

    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0, timeout=300)
    with console.status("sending requests ...") as status:
        for i, shot in enumerate(shots, 1):
            status.update(f"request {i}/{len(shots)}: {shot.label}")
            try:
                demo.ask(client, gw, shot)
            except openai.APIError as exc:
                console.print(f"[yellow]{shot.label}: {exc}[/]")


def shoot(url: str, chromium: str, out: Path) -> None:
    with Browser(chromium, width=1400, height=900) as b:
        b.goto(url + "/dashboard")
        b.wait_for("document.body.dataset.view === 'dashboard'")
        b.evaluate(
            "[...document.querySelectorAll('#requests tbody tr')].find(tr => tr.cells[3].textContent === "
            "'auto-router').click()"
        )
        b.wait_for("!document.getElementById('detail').hidden")
        if b.errors:
            raise RuntimeError(f"the page logged errors: {b.errors}")
        out.parent.mkdir(parents=True, exist_ok=True)
        b.screenshot(out)


if __name__ == "__main__":
    raise SystemExit(main())
