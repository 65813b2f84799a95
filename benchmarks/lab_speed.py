"""The router lab at the size users bring: `pointsman eval --routers all --cv 5` on long tables of
14k prompts x 2 models (target <= 3 min) and 30k prompts x 11 models (target <= 15 min).

The tables are synthetic but shaped like real routing data:
- prompts are real (LLMRouter's and RouteProfile's ~6.1k distinct prompts, 14 tasks), each used once per
  instruction template ("Question: ...", "... Think step by step", ...) until the size is reached, so every
  prompt text is distinct;
- scores have task structure: logit = the model's ability + a per-(task, model) offset - the prompt's
  difficulty x a per-model slope (the difficulty partly follows the prompt's length within its task),
  0/1 draws for exact-match tasks and noisy continuous scores for the F1-scored ones;
- costs are real list prices (USD per 1M tokens) x tokens: the prompt's length / 4 in, a per-(task, model)
  output length out, with per-call noise.

Embeddings are computed once per text and cached on disk (as in any evaluation); the first run embeds the
new texts (timed and printed separately), the timed evaluations run with the cache warm, as every run of a
user's sweep after the first. Peak memory is the most the evaluation process and its workers held at once
(sampled every 0.2 s); `eval` runs one worker process per core at these sizes (`--jobs` here to change it).

    python benchmarks/lab_speed.py                      # both sizes, the targets; exit 1 on a miss
    python benchmarks/lab_speed.py --sizes 2000x2       # a short run (no target unless it is a full size)
    python benchmarks/lab_speed.py --sizes 30000x11 --keep DIR
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
# Full sizes and their targets in seconds.
TARGETS = {(14000, 2): 180.0, (30000, 11): 900.0}
TEMPLATES = (
    "{p}",
    "Answer the following question.\n\n{p}",
    "{p}\n\nThink step by step, then give the final answer.",
    "Question: {p}\nAnswer:",
    "You are an expert. Respond accurately and concisely.\n\n{p}",
    "Read carefully and answer.\n{p}",
)
# RouterBench's 11 models with list prices (USD per 1M input / output tokens) and an overall ability (logit).
MODELS = (
    ("gpt-4-1106-preview", 10.0, 30.0, 1.2),
    ("claude-v2", 8.0, 24.0, 0.6),
    ("claude-v1", 8.0, 24.0, 0.5),
    ("gpt-3.5-turbo-1106", 1.0, 2.0, 0.3),
    ("mixtral-8x7b-chat", 0.6, 0.6, 0.2),
    ("claude-instant-v1", 0.8, 2.4, 0.1),
    ("yi-34b-chat", 0.8, 0.8, 0.1),
    ("llama-2-70b-chat", 0.9, 0.9, -0.2),
    ("wizardlm-13b-v1.2", 0.3, 0.3, -0.5),
    ("code-llama-instruct-34b-chat", 0.776, 0.776, -0.6),
    ("mistral-7b-chat", 0.2, 0.2, -0.7),
)
# Two models: the strongest and a cheap one (gpt-4 vs mixtral, as in RouteLLM).
PAIR = (0, 4)
CONTINUOUS = {"natural_qa", "trivia_qa", "commongen"}
LONG_ANSWERS = {"math": 320, "gsm8k": 180, "agentverse-mgsm": 200, "mbpp": 160, "human_eval": 180}


def real_prompts() -> tuple[list[str], list[str]]:
    """The distinct real prompts of ../shared/data (LLMRouter, then RouteProfile's others) and their tasks."""
    from pointsman.data import load_dataset

    seen, prompts, tasks = set(), [], []
    for name in ("llmrouter", "routeprofile"):
        ds = load_dataset(SHARED / name)
        for key, text, task in zip(ds.keys(), ds.prompts, ds.tasks):
            if key not in seen:
                seen.add(key)
                prompts.append(text)
                tasks.append(task or "other")
    return prompts, tasks


@dataclass(frozen=True)
class Table:
    prompts: list[str]
    tasks: list[str]
    models: list[tuple[str, float, float]]
    score: np.ndarray  # (n, m)
    cost: np.ndarray  # (n, m) USD per call


def build_prompts(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    base, base_tasks = real_prompts()
    if n > len(base) * len(TEMPLATES):
        raise SystemExit(f"at most {len(base) * len(TEMPLATES)} distinct prompts can be built, asked {n}")
    order = np.random.default_rng(seed).permutation(len(base))
    prompts = [TEMPLATES[i // len(base)].format(p=base[order[i % len(base)]]) for i in range(n)]
    return prompts, [base_tasks[order[i % len(base)]] for i in range(n)]


def build_table(n: int, m: int, seed: int = 0) -> Table:
    prompts, tasks = build_prompts(n, seed)
    rng = np.random.default_rng(seed + 1)
    models = [MODELS[j] for j in (PAIR if m == 2 else range(m))]
    names = sorted(set(tasks))
    t = np.array([names.index(x) for x in tasks])
    ability = np.array([mi[3] for mi in models])
    offset = rng.normal(0, 0.6, (len(names), m))  # which model is good at which task
    slope = rng.uniform(0.7, 1.3, m)
    chars = np.array([len(p) for p in prompts], float)
    z = np.zeros(n)
    for k in range(len(names)):  # a difficulty partly visible in the text: longer prompts are harder
        rows = t == k
        lc = np.log(chars[rows])
        z[rows] = (lc - lc.mean()) / (lc.std() + 1e-9)
    difficulty = rng.normal(0, 0.8, len(names))[t] + 0.5 * z + rng.normal(0, 0.8, n)
    logit = ability + offset[t] - difficulty[:, None] * slope + rng.normal(0, 0.5, (n, m))
    p = 1 / (1 + np.exp(-logit))
    cont = np.array([x in CONTINUOUS for x in tasks])
    score = np.where(cont[:, None], np.clip(p + rng.normal(0, 0.15, (n, m)), 0, 1), rng.random((n, m)) < p)
    out_len = np.array([LONG_ANSWERS.get(x, 40) for x in names], float)[:, None] * rng.lognormal(0, 0.3, m)
    tokens_out = out_len[t] * rng.lognormal(0, 0.4, (n, m))
    pin, pout = (np.array([mi[i] for mi in models]) for i in (1, 2))
    cost = (chars[:, None] / 4 * pin + tokens_out * pout) / 1e6
    return Table(prompts, tasks, [mi[:3] for mi in models], score.astype(float), cost)


def write_long_csv(table: Table, path: Path) -> None:
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["prompt_id", "prompt", "model", "score", "cost", "task"])
        for i, (text, task) in enumerate(zip(table.prompts, table.tasks)):
            for j, (name, _, _) in enumerate(table.models):
                out.writerow(
                    [f"p{i}", text, name, f"{table.score[i, j]:.4g}", f"{table.cost[i, j]:.6g}", task]
                )


def warm_embeddings(prompts: list[str]) -> float:
    """Embed (and cache) the texts the evaluation will ask for; seconds spent (0 when all were cached)."""
    from pointsman.text import CachedEncoder, EmbeddingCache, get_encoder
    from pointsman.text.embedding_cache import text_key

    enc = get_encoder()
    cache = EmbeddingCache()
    keys = [text_key(p) for p in prompts]
    found = cache.get(enc.id, keys, enc.dim)
    missing = [p for p, k in zip(prompts, keys) if k not in found]
    start = time.perf_counter()
    if missing:
        CachedEncoder(enc, cache).encode(missing, progress=True)
    return time.perf_counter() - start if missing else 0.0


def run_eval(
    csv_path: Path, out: Path, cv: int, bootstrap: int, jobs: int
) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak memory in MiB, exit code) of `pointsman eval --routers all` in a
    fresh process. CPU time (user + system, its worker processes included) shows how much of the wall time
    a busy machine gave it; the peak memory is the most the process and its workers held at once."""
    cmd = [sys.executable, "-c", "from pointsman.cli import main; main()", "eval", "--data", str(csv_path),
           "--routers", "all", "--cv", str(cv), "--bootstrap", str(bootstrap), "--out", str(out),
           "--jobs", str(jobs)]  # fmt: skip
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=os.environ.copy())
    peak = PeakMemory(proc.pid)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_utime + usage.ru_stime, max(peak.stop(), usage.ru_maxrss / 1024), proc.returncode


class PeakMemory:
    """The largest total resident memory of a process and its descendants, sampled every 0.2 s (Linux)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.running = pid, 0, True
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def stop(self) -> float:
        self.running = False
        self.thread.join()
        return self.peak / 2**20

    def _sample(self) -> None:
        page = os.sysconf("SC_PAGE_SIZE")
        while self.running:
            total = sum(_rss_pages(pid) for pid in _tree(self.pid)) * page
            self.peak = max(self.peak, total)
            time.sleep(0.2)


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in task.read_text().split())
            except OSError:
                pass
    return out


def _rss_pages(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0


def parse_size(text: str) -> tuple[int, int]:
    n, _, m = text.lower().partition("x")
    try:
        size = int(n), int(m)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a size is PROMPTSxMODELS, e.g. 14000x2; got {text!r}") from None
    if size[0] < 50 or not 2 <= size[1] <= len(MODELS):
        raise argparse.ArgumentTypeError(f"{text}: at least 50 prompts and 2..{len(MODELS)} models")
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=parse_size, nargs="+", default=list(TARGETS))
    parser.add_argument("--cv", type=int, default=5)
    parser.add_argument("--bootstrap", type=int, default=1000, help="the eval default")
    parser.add_argument("--jobs", type=int, default=0, help="eval --jobs (0: its default, one per core)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the tables and reports here")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="lab_speed_"))
    work.mkdir(parents=True, exist_ok=True)
    failed = False
    rows = []
    for n, m in args.sizes:
        t0 = time.perf_counter()
        table = build_table(n, m)
        path = work / f"long_{n}x{m}.csv"
        write_long_csv(table, path)
        built = time.perf_counter() - t0
        embedded = warm_embeddings(table.prompts)
        print(f"{n}x{m}: table built in {built:.0f} s ({path.stat().st_size / 2**20:.0f} MiB CSV), "
              f"embeddings of new texts {embedded:.0f} s", flush=True)  # fmt: skip
        seconds, cpu, peak, code = run_eval(path, work / f"eval_{n}x{m}", args.cv, args.bootstrap, args.jobs)
        target = TARGETS.get((n, m)) if args.cv == 5 else None
        ok = code == 0 and (target is None or seconds <= target)
        failed |= not ok
        verdict = "FAIL" if not ok else "OK" if target else "(no target at this size)"
        rows.append(f"{n:>6} x {m:<2} eval --routers all --cv {args.cv}: {seconds:7.1f} s "
                    f"(target {'-' if target is None else f'{target:.0f} s'}), CPU {cpu:.0f} s, load "
                    f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores, peak memory "
                    f"{peak:,.0f} MiB, exit {code}: {verdict}")  # fmt: skip
        print(rows[-1], flush=True)
    print("\n".join(["", "lab speed:", *rows]))
    if args.keep is None:
        print(f"(tables and reports in {work})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
