"""A cascade's own decision overhead in the real gateway: scoring and deciding, upstream time excluded.

A three-step cascade profile (llama-3.2-3b -> gemma-2-9b -> mistral-small, the learned answer scorer fitted
on the RouteProfile data, thresholds calibrated by `calibrate_chain`) in a real gateway (uvicorn, real port)
against a replay upstream in its own process serving the recorded answers over HTTP. Each request's
decision time is the gateway's own measurement (`x-pointsman-cascade: ...; decision X ms`: the cascade's
wall time minus its upstream calls). Prints p50/p90 and the steps per request; exits 1 when p50 > 3 ms.

    python benchmarks/cascade_overhead.py [--data ../shared/data/routeprofile] [--requests 300]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import yaml

from pointsman.cascade.scorers import make_scorer
from pointsman.config.loader import parse_config
from pointsman.data import load_dataset
from pointsman.evaluate.cascades import calibrate_chain
from pointsman.gateway.server import BackgroundGateway
from pointsman.policy.objective import Objective

TARGET_P50_MS = 3.0
STEPS = ["llama-3.2-3b-instruct", "gemma-2-9b-it", "mistral-small-24b-instruct-2501-bf16"]


def replay_process(data: Path) -> tuple[subprocess.Popen, str]:
    cmd = [sys.executable, "-m", "pointsman.testing.replay_upstream", "--data", str(data), "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"the replay upstream did not start: {line!r}")
    return proc, line.split()[-1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data/routeprofile"))
    ap.add_argument("--requests", type=int, default=300)
    args = ap.parse_args()
    ds = load_dataset(args.data)
    print("fitting the scorer and calibrating the chain ...", flush=True)
    chain = calibrate_chain(ds, STEPS, make_scorer("learned"), Objective(lambda_=1500.0), folds=3)
    proc, upstream = replay_process(args.data)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            chain.scorer.save(Path(tmp) / "scorer.npz")
            config = {
                "server": {"port": 0},
                "store": {"path": "decisions.db"},
                "backends": [
                    {"name": m.name, "kind": "openai", "base_url": upstream + "/v1",
                     "input_price": m.input_price, "output_price": m.output_price}
                    for m in ds.models
                ],
                "profiles": [
                    {"name": "cascade", "candidates": STEPS, "cascade": chain.profile_yaml("scorer.npz")}
                ],
            }  # fmt: skip
            cfg = parse_config(yaml.safe_dump(config), source="bench.yaml", base_dir=Path(tmp))
            with BackgroundGateway(cfg) as gw, httpx.Client(base_url=gw.url, timeout=60) as client:
                decisions, steps = run(client, ds.prompts, args.requests)
    finally:
        proc.terminate()
        proc.wait(10)
    p50, p90 = np.percentile(decisions, [50, 90])
    print(f"{len(decisions)} requests through a 3-step cascade; steps per request: mean {np.mean(steps):.2f}")
    print(
        f"cascade decision overhead (scoring + deciding, upstream excluded): p50 {p50:.3f} ms, p90 {p90:.3f} ms"
    )
    print(f"target: p50 <= {TARGET_P50_MS} ms: {'met' if p50 <= TARGET_P50_MS else 'MISSED'}")
    return 0 if p50 <= TARGET_P50_MS else 1


def run(client: httpx.Client, prompts: list[str], n: int) -> tuple[list[float], list[int]]:
    decisions, steps = [], []
    for k in range(n + 20):
        body = {"model": "cascade", "messages": [{"role": "user", "content": prompts[k % len(prompts)]}]}
        r = client.post("/v1/chat/completions", json=body)
        r.raise_for_status()
        head = r.headers["x-pointsman-cascade"]
        if k >= 20:  # the first requests warm the connections and the scorer
            decisions.append(float(head.rsplit("decision ", 1)[1].removesuffix("ms")))
            steps.append(head.split("; ")[0].count(",") + 1)
        time.sleep(0)
    return decisions, steps


if __name__ == "__main__":
    sys.exit(main())
