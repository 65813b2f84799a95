"""`pointsman demo`: the gateway's main job on a fresh machine, offline and without API keys.

It builds a config in memory: eight `replay` backends answering with the responses eight real models gave in
RouteProfile's routing data (real token counts, hence real cost), the bundled SmolLM2-135M-Instruct as a local
`llamacpp` model, an `auto` profile ranked by a router trained on that data (trained on first use and cached;
the demo's own prompts are held out of its training set), a keyword rule sending small talk to the local
model,
and a SQLite decision log. It starts the real gateway on a local port, sends varied requests through the
official `openai` client (plain and streaming; `auto`, a profile, a RouteLLM-style threshold, a model),
prints what the gateway decided for each, and shuts down gracefully.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

DATA_HELP = """The demo replays real answers recorded in RouteProfile's routing data (MIT licence), which it
expects at {path}.

Do one of:
  - put the shared data folder beside the checkout, so that ../shared/data/routeprofile/ exists;
  - or pass its location: pointsman demo --data /path/to/data  (the folder holding routeprofile/)."""

# Small talk goes to the local model (a rule), everything else to the router.
SMALL_TALK = ["hello", "hi", "thanks", "thank you", "how are you", "good morning", "joke"]
# The demo's prompts from the recordings, one per kind of task (held out of the router's training data).
DEMO_TASKS = ["gsm8k", "mbpp", "trivia_qa", "commonsense_qa", "mmlu"]
# quality - LAMBDA x cost: a model costing $0.0003 more per request must be predicted 0.09 better.
LAMBDA = 300.0


@dataclass
class Shot:
    label: str
    model: str
    prompt: str
    stream: bool = False


def default_data_dir() -> Path:
    import pointsman

    return Path(pointsman.__file__).resolve().parents[2].parent / "shared" / "data"


def run_demo(port: int = 0, data: Path | None = None, console: Console | None = None) -> int:
    console = console or Console(highlight=False)
    data = Path(data) if data is not None else default_data_dir()
    recordings = data / "routeprofile" / "routing_test_data.json"
    if not recordings.is_file():
        console.print(f"[bold red]routing data not found[/]: {recordings}")
        console.print(DATA_HELP.format(path=data), markup=False)
        return 2
    from pointsman.data.loaders import load_dataset

    with console.status("loading RouteProfile's recordings ..."):
        dataset = load_dataset(recordings.parent, "routeprofile")
    shots = pick_shots(dataset)
    held_out = {s.prompt for s in shots}
    try:
        router_file = trained_router(dataset, held_out, console)
    except RuntimeError as exc:  # no router available in this install
        console.print(f"[bold red]cannot train the demo's router[/]: {exc}", highlight=False)
        return 2
    with tempfile.TemporaryDirectory(prefix="pointsman-demo-") as tmp:
        config = demo_config(dataset, recordings, router_file, Path(tmp), port)
        return serve_and_ask(config, shots, console)


def pick_shots(dataset) -> list[Shot]:
    first = {}
    for prompt, task in zip(dataset.prompts, dataset.tasks, strict=True):
        if task in DEMO_TASKS and task not in first and len(prompt) < 240:
            first[task] = prompt
    shots = [Shot(f"{task} (auto)", "auto", first[task]) for task in DEMO_TASKS if task in first]
    shots.insert(
        1,
        Shot("small talk (auto, streamed)", "auto", "Hello! Can you tell me a joke about owls?", stream=True),
    )
    if len(shots) > 3:
        shots[3].stream = True
        shots[3].label = shots[3].label.replace("(auto)", "(auto, streamed)")
    if "mmlu" in first:
        shots.append(Shot("mmlu (RouteLLM-style threshold)", "router-auto-router-0.2", first["mmlu"]))
        shots.append(Shot("mmlu (a model by name)", "llama-3.3-70b-instruct", first["mmlu"]))
    shots.append(Shot("cheapest-first profile", "cheap", first.get("trivia_qa", shots[0].prompt)))
    return shots


def trained_router(dataset, held_out: set[str], console: Console) -> Path:
    """The default router trained on the recordings minus the demo's prompts (cached; policy/trained.py)."""
    from pointsman.policy.trained import trained_router as train

    return train(dataset, held_out, status=console.status)


def default_router() -> str:
    from pointsman.policy.trained import default_router as name

    return name()


def demo_config(dataset, recordings: Path, router_file: Path, workdir: Path, port: int):
    from pointsman.config.loader import parse_config

    models = dataset.model_names
    backends: list[dict[str, Any]] = [
        {
            "name": m.name,
            "kind": "replay",
            "replay_data": str(recordings),
            "input_price": m.input_price,
            "output_price": m.output_price,
        }
        for m in dataset.models
    ]
    backends.append(
        {
            "name": "smollm2-local",
            "kind": "llamacpp",
            "model_path": "smollm2",
            "max_concurrency": 1,
            "context_window": 2048,
            "timeouts": {"first_byte": 120, "total": 300},
        }
    )
    by_price = sorted(dataset.models, key=lambda m: m.input_price + m.output_price)
    import yaml

    text = yaml.safe_dump(
        {
            "server": {"host": "127.0.0.1", "port": port, "graceful_timeout": 10},
            "backends": backends,
            "profiles": [
                {
                    "name": "auto-router",
                    "description": "a trained router: predicted quality - lambda x cost",
                    "candidates": models,
                    "selector": {"router": str(router_file)},
                    "objective": {"lambda": LAMBDA},
                    "fallbacks": ["smollm2-local"],
                },
                {
                    "name": "local",
                    "description": "the bundled SmolLM2-135M-Instruct",
                    "candidates": ["smollm2-local"],
                },
                {
                    "name": "cheap",
                    "description": "cheapest first",
                    "candidates": [m.name for m in by_price],
                    "fallbacks": ["smollm2-local"],
                },
            ],
            "rules": [{"name": "small-talk", "when": {"keywords": SMALL_TALK}, "profile": "local"}],
            "store": {"kind": "sqlite", "path": str(workdir / "decisions.db"), "flush_interval": 0.1},
        }
    )
    return parse_config(text, source="<demo config>", base_dir=workdir)


def serve_and_ask(config, shots: list[Shot], console: Console) -> int:
    import openai

    from pointsman.gateway.server import BackgroundGateway

    with console.status("starting the gateway (loading SmolLM2 and the recordings) ..."):
        gw = BackgroundGateway(config).start(timeout=300)
    console.print(f"gateway up at [bold]{gw.url}[/] (any OpenAI client: base_url={gw.url}/v1)\n")
    client = openai.OpenAI(base_url=gw.url + "/v1", api_key="no-key-needed", max_retries=0, timeout=300)
    failures = 0
    try:
        for i, shot in enumerate(shots, 1):
            console.print(
                f"[bold][{i}] {shot.label}[/]  model={shot.model!r}{'  stream' if shot.stream else ''}"
            )
            console.print(f"    asked   {_first_line(shot.prompt, 100)}", markup=False)
            with console.status("waiting for the answer ..."):
                try:
                    seen = ask(client, gw, shot)
                except openai.APIError as exc:
                    failures += 1
                    console.print(f"    [red]error[/]   {exc}", highlight=False)
                    continue
            console.print(
                f"    route   [cyan]{seen.route}[/] -> [bold green]{seen.model}[/]   "
                f"{seen.latency * 1000:.0f} ms, {seen.cost}"
            )
            console.print(f"    why     {seen.reason}", markup=False)
            console.print(f"    answer  {_first_line(seen.text, 100) or '(empty)'}\n", markup=False)
    finally:
        with console.status("shutting down gracefully (in-flight requests finish, decision log flushed) ..."):
            gw.stop()
    rows = gw.gateway.log.recent(100)
    spent = sum(r.cost_usd or 0 for r in rows)
    console.print(
        f"decision log: {len(rows)} requests recorded (route, candidates with predicted quality and "
        f"cost, chosen model, its probability, latency, tokens, cost); total cost ${spent:.6f}"
    )
    console.print(
        "next: [bold]pointsman serve --config examples/gateway.yaml[/] with your own backends "
        "(docs/gateway.md)"
    )
    return 1 if failures else 0


@dataclass
class Seen:
    route: str
    model: str
    reason: str
    text: str
    latency: float
    cost: str


def ask(client, gw, shot: Shot) -> Seen:
    messages = [{"role": "user", "content": shot.prompt}]
    started = time.perf_counter()
    if shot.stream:
        with client.chat.completions.with_streaming_response.create(
            model=shot.model, messages=messages, stream=True, max_tokens=200
        ) as resp:
            headers = resp.headers
            text = "".join(c.choices[0].delta.content or "" for c in resp.parse() if c.choices)
    else:
        raw = client.chat.completions.with_raw_response.create(
            model=shot.model, messages=messages, max_tokens=200
        )
        headers, reply = raw.headers, raw.parse()
        text = reply.choices[0].message.content or ""
    latency = time.perf_counter() - started
    record = _record(gw, headers.get("x-request-id"))
    cost = f"${record.cost_usd:.6f}" if record and record.cost_usd is not None else "cost unknown"
    return Seen(
        headers.get("x-pointsman-route", "-"),
        headers.get("x-pointsman-model", "-"),
        headers.get("x-pointsman-reason", "-"),
        text,
        latency,
        cost,
    )


def _record(gw, request_id: str | None, wait: float = 2.0):
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        for r in gw.gateway.log.recent(50):
            if r.request_id == request_id:
                return r
        time.sleep(0.05)
    return None


def _first_line(text: str, limit: int) -> str:
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"
