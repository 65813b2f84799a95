"""The response cache's targets, measured: precision of semantic hits, index and lookup latency, miss overhead,
exact hits end to end, memory and eviction. Exits 1 when a target is missed.

1. Precision (../shared/data/guard/semantic_cache: QQP pairs, and the STS benchmark with score >= 4 as "same
   question"): thresholds tuned on one half (split by question), measured on the other. Per-category rules are
   tuned for the target with a one-sided Clopper-Pearson bound, over topic categories (k-means of the tuning
   questions' MiniLM embeddings, a learned domain signal), cosine and word overlap; the baseline is the best
   single global cosine threshold for the same target on the same split. Targets at --precision (0.99):
   held-out precision >= target - 0.5 points, and recall above the global threshold's. The same figures at
   --also (0.90) are printed as an operating point the labels allow; the label ceiling (how many pairs whose
   texts are identical after normalising are labelled duplicates) is printed beside them.
2. Index: exact numpy vs usearch, hnswlib and faiss-cpu HNSW (the ones installed) on 100k QQP question
   embeddings: build time, query p50, recall@1 against exact, memory.
3. Lookup p50 with 100k entries in one partition (embedding given): <= 1 ms; exact lookup alike.
4. Miss overhead on the request path (fingerprint, exact lookup, category rule, semantic search; embedding
   already computed): p50 <= 0.5 ms.
5. An exact hit end to end (`pointsman serve` process, local upstream process) vs a direct call to the upstream,
   interleaved in one run: p50 difference <= 1 ms, streaming and not.
6. Memory per 100k entries (tracked bytes and process RSS); eviction keeps the tracked bytes under a quota.

    python benchmarks/cache.py [--quick] [--json out.json]

The first run embeds the pairs' ~150k texts (about 15 minutes on 2 cores; cached on disk afterwards).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TARGET_PRECISION_SLACK = 0.005
TARGET_LOOKUP_MS = 1.0
TARGET_MISS_MS = 0.5
TARGET_HIT_MS = 1.0
N_ENTRIES = 100_000
TOPICS = 16

failures: list[str] = []
report: dict = {}


def check(ok: bool, what: str) -> None:
    print(f"  {'ok  ' if ok else 'MISS'} {what}")
    if not ok:
        failures.append(what)


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def p50(xs: list[float]) -> float:
    return statistics.median(xs)


# -- 1. precision ---------------------------------------------------------------------------------------


def embed(texts: list[str]) -> np.ndarray:
    from pointsman.text import CachedEncoder, get_encoder

    return CachedEncoder(get_encoder()).encode(texts)


def precision_section(name: str, pairs, target: float, also: float) -> None:
    from pointsman.cache.overlap import overlap

    a, b = embed(pairs.a), embed(pairs.b)
    sim = np.sum(a * b, axis=1)
    ovl = np.array([overlap(x, y) for x, y in zip(pairs.a, pairs.b, strict=True)])
    lab = pairs.label
    half = np.array([int(hashlib.blake2b(t.encode(), digest_size=4).hexdigest(), 16) % 2 for t in pairs.a])
    tr, te = half == 0, half == 1
    topics = _topics(a, tr)
    print(
        f"\n[precision] {name}: {len(lab)} pairs ({lab.mean():.1%} same), tune {tr.sum()} / held out {te.sum()}"
    )
    print(f"  label ceiling: {_ceiling(pairs):.1%} of pairs identical after normalising are labelled same")
    out = {}
    for level in (target, also):
        glob, mine = _compare(sim, ovl, lab, topics, tr, te, level)
        out[str(level)] = {"global": glob, "per_category": mine}
        print(
            f"  target {level:.0%}: per-category held-out precision {_pct(mine['precision'])}, recall "
            f"{mine['recall']:.1%} ({mine['hits']} hits); global threshold {_thr(glob['threshold'])}: "
            f"precision {_pct(glob['precision'])}, recall {glob['recall']:.1%}"
        )
        ok_p = mine["hits"] > 0 and mine["precision"] >= level - TARGET_PRECISION_SLACK
        ok_r = mine["recall"] > glob["recall"]
        label = f"{name} at {level:.0%}: held-out precision {_pct(mine['precision'])} >= {level - TARGET_PRECISION_SLACK:.1%}"
        rec = f"{name} at {level:.0%}: recall {mine['recall']:.1%} > global {glob['recall']:.1%}"
        if level == target:
            check(ok_p, label)
            check(ok_r, rec)
        else:
            print(
                f"  (operating point, not a target) {'met' if ok_p and ok_r else 'not met'}: {label}; {rec}"
            )
    report[f"precision_{name}"] = out


def _topics(vectors: np.ndarray, tune_rows: np.ndarray) -> np.ndarray:
    from sklearn.cluster import KMeans

    km = KMeans(TOPICS, n_init=3, random_state=0).fit(vectors[tune_rows][:20_000])
    return km.predict(vectors)


def _compare(sim, ovl, lab, topics, tr, te, level: float) -> tuple[dict, dict]:
    from pointsman.cache.tuning import evaluate, tune, tune_categories

    glob = tune(sim[tr], lab[tr], precision=level)
    gp, gr, gh = evaluate(glob, sim[te], lab[te])
    point = tune(sim[tr], lab[tr], precision=level, bound=False)  # a fixed-threshold cache's tuning
    pp, pr, _ = evaluate(point, sim[te], lab[te])
    print(
        f"    point-estimate global threshold {_thr(point.threshold)}: held-out precision {_pct(pp)}, "
        f"recall {pr:.1%}"
    )
    rules = tune_categories(sim[tr], lab[tr], ovl[tr], topics[tr].astype(str), precision=level)
    hits = right = 0
    for c in np.unique(topics):
        rule = rules.get(str(c), rules["*"])
        m_te = te & (topics == c)
        if rule.threshold is None:
            continue  # no rule shown to meet the target: exact matches only in this category
        served = (sim[m_te] >= rule.threshold) & (ovl[m_te] >= rule.min_overlap)
        hits += int(served.sum())
        right += int((served & lab[m_te]).sum())
    positives = int(lab[te].sum())
    mine = {"precision": right / hits if hits else float("nan"), "recall": right / positives, "hits": hits}
    return {"threshold": glob.threshold, "precision": gp, "recall": gr, "hits": gh}, mine


def _ceiling(pairs) -> float:
    same = np.array([_norm(x) == _norm(y) for x, y in zip(pairs.a, pairs.b, strict=True)])
    return float(pairs.label[same].mean()) if same.any() else float("nan")


def _norm(text: str) -> str:
    import re

    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def _pct(x: float) -> str:
    return "n/a (no hits)" if np.isnan(x) else f"{x:.1%}"


def _thr(x: float | None) -> str:
    return "none qualifies" if x is None else f"{x:.4f}"


# -- 2. index libraries -----------------------------------------------------------------------------------


def index_section(vectors: np.ndarray, queries: np.ndarray, quick: bool) -> None:
    print(f"\n[index] {len(vectors)} vectors x {vectors.shape[1]}, {len(queries)} queries (k=4)")
    exact_best = np.argmax(queries @ vectors.T, axis=1)
    rows = {}
    for name, build in _libraries(quick).items():
        before = rss_mb()
        t0 = time.perf_counter()
        try:
            search = build(vectors)
        except ImportError:
            print(f"  {name}: not installed")
            continue
        built = time.perf_counter() - t0
        mem = rss_mb() - before
        times, found = [], []
        for q in queries:
            t = time.perf_counter()
            found.append(search(q))
            times.append((time.perf_counter() - t) * 1000)
        recall = float(np.mean([f == e for f, e in zip(found, exact_best, strict=True)]))
        rows[name] = {"build_s": built, "p50_ms": p50(times), "recall_at_1": recall, "rss_mb": mem}
        print(
            f"  {name:8s} build {built:6.1f} s  query p50 {p50(times):.3f} ms  recall@1 {recall:.3f}  "
            f"memory +{mem:.0f} MB"
        )
    report["index"] = rows


def _libraries(quick: bool) -> dict:
    def numpy_exact(v):
        return lambda q: int(np.argmax(v @ q))

    def usearch(v):
        from usearch.index import Index

        idx = Index(ndim=v.shape[1], metric="cos", dtype="f16", connectivity=16, expansion_search=64)
        idx.add(np.arange(len(v)), v)
        return lambda q: int(idx.search(q, 4).keys[0])

    def hnswlib(v):
        import hnswlib

        idx = hnswlib.Index(space="ip", dim=v.shape[1])
        idx.init_index(max_elements=len(v), M=16, ef_construction=128)
        idx.add_items(v, np.arange(len(v)))
        idx.set_ef(64)
        return lambda q: int(idx.knn_query(q, k=4)[0][0][0])

    def faiss(v):
        import faiss

        idx = faiss.IndexHNSWFlat(v.shape[1], 16, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = 128
        idx.add(v)
        idx.hnsw.efSearch = 64
        return lambda q: int(idx.search(q.reshape(1, -1), 4)[1][0][0])

    libs = {"numpy": numpy_exact, "usearch": usearch}
    if not quick:
        libs.update({"hnswlib": hnswlib, "faiss": faiss})
    return libs


# -- 3, 4, 6. the cache itself ------------------------------------------------------------------------------


def response(text: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m0",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ("An answer about " + text) * 3},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 20, "completion_tokens": 120, "total_tokens": 140},
    }


async def cache_section(
    texts: list[str],
    vectors: np.ndarray,
    queries: list[str],
    qvec: np.ndarray,
    unseen: list[str],
    unseen_vec: np.ndarray,
    folder: Path,
) -> None:
    from prometheus_client import CollectorRegistry

    from pointsman.cache.entry import Entry
    from pointsman.cache.fingerprint import fingerprints
    from pointsman.cache.service import scope_of
    from pointsman.config.cache import CacheConfig
    from pointsman.gateway.caching import GatewayCache
    from pointsman.state import EmbeddedState

    config = CacheConfig(enabled=True, path=str(folder / "bench.db"), default={"threshold": 0.95})
    gc = GatewayCache(config, EmbeddedState(), CollectorRegistry(), runner=None)
    cache = gc.cache
    await cache.start()
    rule = cache.rule("default")
    scope = scope_of("acme", None, False)  # the scope the requests of _miss_overhead have
    context = fingerprints(_body(texts[0])).context
    before = rss_mb()
    t0 = time.perf_counter()
    for text, vec in zip(texts, vectors, strict=True):
        fp = fingerprints(_body(text))
        now = time.time()
        entry = Entry(
            response(text),
            "m0",
            "default",
            now,
            now + 3600,
            "acme",
            None,
            fp.question,
            f"{scope}:{context}",
            vec,
        )
        await cache.put(scope, fp.exact, entry, rule)
    fill = time.perf_counter() - t0
    grown = rss_mb() - before
    print(f"\n[cache] {cache.entries} entries in one partition, filled in {fill:.1f} s")
    sem, ex, hits = [], [], 0
    for q, v in zip(queries, qvec, strict=True):
        t = time.perf_counter()
        hit = await cache.get_semantic(scope, context, v, q, rule)
        sem.append((time.perf_counter() - t) * 1000)
        hits += hit is not None
        fp = fingerprints(_body(q))
        t = time.perf_counter()
        await cache.get_exact(scope, fp.exact)
        ex.append((time.perf_counter() - t) * 1000)
    print(
        f"  semantic lookup p50 {p50(sem):.3f} ms (p99 {np.percentile(sem, 99):.3f}), {hits} hits of "
        f"{len(queries)}; exact lookup p50 {p50(ex) * 1000:.1f} us"
    )
    check(
        p50(sem) <= TARGET_LOOKUP_MS,
        f"lookup p50 {p50(sem):.3f} ms <= {TARGET_LOOKUP_MS} ms at {cache.entries}",
    )
    miss = await _miss_overhead(gc, unseen, unseen_vec, f"{scope}:{context}")
    check(miss <= TARGET_MISS_MS, f"miss overhead p50 {miss:.3f} ms <= {TARGET_MISS_MS} ms")
    per_100k = cache.nbytes / cache.entries * 100_000 / 2**20
    print(
        f"  memory: {cache.nbytes / 2**20:.0f} MB tracked ({per_100k:.0f} MB per 100k entries), process RSS "
        f"+{grown:.0f} MB ({grown / cache.entries * 100_000:.0f} MB per 100k)"
    )
    report["cache"] = {
        "entries": cache.entries,
        "fill_s": fill,
        "semantic_p50_ms": p50(sem),
        "exact_p50_ms": p50(ex),
        "miss_overhead_p50_ms": miss,
        "tracked_mb": cache.nbytes / 2**20,
        "tracked_mb_per_100k": per_100k,
        "rss_mb_per_100k": grown / cache.entries * 100_000,
    }
    await cache.close()
    await _eviction(texts, vectors, folder)


def _body(text: str) -> dict:
    return {"model": "auto", "messages": [{"role": "user", "content": text}]}


async def _miss_overhead(gc, queries: list[str], qvec: np.ndarray, partition: str) -> float:
    """before_route + after_route of new questions (not stored; the few that find a paraphrase are left out),
    their embedding computed already (by signals)."""
    from pointsman.gateway.auth import Principal
    from pointsman.gateway.request import parse_chat
    from pointsman.gateway.service import Exchange
    from pointsman.policy.rules import Decision
    from pointsman.signals.base import Caller, RequestView

    who = Principal("k1", "acme", "key:k1", None)
    times, hits = [], 0
    for i, (q, v) in enumerate(zip(queries, qvec, strict=True)):
        raw = json.dumps(_body(q)).encode()
        ex = Exchange(f"req_{i}", time.perf_counter(), time.time(), principal=who)
        ex.request = parse_chat(raw)
        ex.view = RequestView(ex.request.body, Caller("acme", "k1"), embedding=v)
        ex.decision = Decision("default", "balanced", "default profile")
        t = time.perf_counter()
        found = await gc.before_route(ex, None) or await gc.after_route(ex)
        ms = (time.perf_counter() - t) * 1000
        assert f"{ex.cache.scope}:{ex.cache.fps.context}" == partition  # it searched the 100k entries
        if found is None:
            times.append(ms)
        else:
            hits += 1
    print(
        f"  miss overhead p50 {p50(times):.3f} ms over {len(times)} new questions ({hits} more found a "
        "paraphrase): fingerprint, exact lookup, rule, semantic search"
    )
    return p50(times)


async def _eviction(texts: list[str], vectors: np.ndarray, folder: Path) -> None:
    from pointsman.cache.entry import Entry
    from pointsman.cache.service import ResponseCache
    from pointsman.config.cache import CacheConfig
    from pointsman.state import EmbeddedState

    quota = 64 * 2**20
    config = CacheConfig(enabled=True, max_bytes=quota)
    cache = ResponseCache(config, EmbeddedState(), owns_state=False)
    rule = cache.rule("default")
    peak = 0
    for i, (text, vec) in enumerate(zip(texts, vectors, strict=True)):
        now = time.time()
        entry = Entry(response(text), "m0", "default", now, now + 3600, "acme", None, text, "acme.-:c", vec)
        await cache.put("acme.-", f"{i:032x}", entry, rule)
        peak = max(peak, cache.nbytes)
    stored = len(await cache.state.scan("cache:x:"))
    print(
        f"  eviction: quota {quota / 2**20:.0f} MB, {len(texts)} inserted, {cache.entries} kept ({stored} in "
        f"the store), peak {peak / 2**20:.1f} MB, {cache.evicted} evicted"
    )
    check(peak <= quota and stored == cache.entries, f"eviction keeps {peak / 2**20:.1f} MB <= quota 64 MB")
    report["eviction"] = {
        "quota_mb": 64,
        "peak_mb": peak / 2**20,
        "kept": cache.entries,
        "evicted": cache.evicted,
    }


# -- 5. end to end ----------------------------------------------------------------------------------------


def end_to_end(folder: Path, n: int) -> None:
    import httpx
    import yaml

    from pointsman.testing.upstreams import spawn_upstream

    with spawn_upstream() as upstream:
        cfg = {
            "server": {"port": _free_port()},
            "backends": [
                {"name": "m0", "kind": "openai", "base_url": upstream + "/v1", "model": "test-model"}
            ],
            "store": {"path": str(folder / "decisions.db")},
            "cache": {"enabled": True, "path": str(folder / "e2e-cache.db")},
        }
        path = folder / "gateway.yaml"
        path.write_text(yaml.safe_dump(cfg))
        cmd = [sys.executable, "-c", "from pointsman.cli import main; main()", "serve", str(path)]
        proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")})
        url = f"http://127.0.0.1:{cfg['server']['port']}"
        try:
            _wait(url, proc)
            print(
                f"\n[end to end] exact hit through `pointsman serve` vs direct upstream call, {n} each, interleaved"
            )
            out = {}
            for stream in (False, True):
                out["stream" if stream else "json"] = _interleaved(httpx, url, upstream, n, stream)
            report["end_to_end"] = out
        finally:
            proc.terminate()
            proc.wait(30)


def _interleaved(httpx, gateway: str, upstream: str, n: int, stream: bool) -> dict:
    body = {
        "model": "m0",
        "messages": [{"role": "user", "content": "Say hello in five words, please."}],
        "stream": stream,
    }
    direct, hit = [], []
    with httpx.Client(timeout=10) as c:
        first = c.post(gateway + "/v1/chat/completions", json=body)
        assert first.status_code == 200, first.text
        for i in range(n + 20):
            for target, sink in ((upstream, direct), (gateway, hit)):
                t = time.perf_counter()
                r = c.post(
                    target + "/v1/chat/completions",
                    json={**body, "model": "test-model"} if target == upstream else body,
                )
                r.read()
                ms = (time.perf_counter() - t) * 1000
                if target == gateway and r.headers.get("x-pointsman-cache") != "hit":
                    raise RuntimeError(f"expected a cache hit, got {r.headers.get('x-pointsman-cache')}")
                if i >= 20:  # warm-up done
                    sink.append(ms)
    diff = p50(hit) - p50(direct)
    kind = "streaming" if stream else "non-streaming"
    print(
        f"  {kind}: direct p50 {p50(direct):.3f} ms, exact hit p50 {p50(hit):.3f} ms, difference {diff:+.3f} ms"
    )
    check(diff <= TARGET_HIT_MS, f"{kind} exact hit p50 {diff:+.3f} ms over direct <= {TARGET_HIT_MS} ms")
    return {"direct_p50_ms": p50(direct), "hit_p50_ms": p50(hit), "difference_ms": diff}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen) -> None:
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"pointsman serve exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("pointsman serve did not start")


# -- main -------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--precision", type=float, default=0.99, help="the precision target")
    parser.add_argument("--also", type=float, default=0.90, help="an operating point printed beside it")
    parser.add_argument("--quick", action="store_true", help="numpy and usearch only; fewer end-to-end calls")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument(
        "--only", default="precision,index,cache,e2e", help="sections to run (comma-separated; default all)"
    )
    args = parser.parse_args()
    only = set(args.only.split(","))

    from pointsman.cache.pairs import load_qqp, load_sts

    qqp = load_qqp()
    if "precision" in only:
        precision_section("qqp", qqp, args.precision, args.also)
        precision_section("sts", load_sts(), args.precision, args.also)

    unique = list(dict.fromkeys([*qqp.a, *qqp.b]))
    texts, unseen = unique[:N_ENTRIES], unique[N_ENTRIES : N_ENTRIES + 1000]  # unseen: questions not stored
    vectors = embed(texts)
    queries = qqp.b[:1000]  # stored questions: the semantic lookups take the hit path (read, decode, overlap)
    qvec = embed(queries)
    if "index" in only:
        index_section(vectors, qvec, args.quick)
    with tempfile.TemporaryDirectory() as tmp:
        if "cache" in only:
            asyncio.run(cache_section(texts, vectors, queries, qvec, unseen, embed(unseen), Path(tmp)))
        if "e2e" in only:
            end_to_end(Path(tmp), 200 if args.quick else 500)

    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=float))
    print("\n" + ("all targets met" if not failures else f"{len(failures)} target(s) missed:"))
    for f in failures:
        print("  - " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
