"""The vector index: exact and HNSW partitions agree with brute force, partitions never mix."""

from __future__ import annotations

import numpy as np
import pytest

from pointsman.cache.index import VectorIndex


def unit(rng: np.random.Generator, n: int, dim: int = 32) -> np.ndarray:
    v = rng.normal(size=(n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("ann_from", [10_000, 64])  # numpy only; HNSW past 64 vectors
def test_nearest_matches_brute_force(ann_from: int) -> None:
    rng = np.random.default_rng(0)
    vecs = unit(rng, 500)
    index = VectorIndex(ann_from=ann_from)
    for i, v in enumerate(vecs):
        index.add("p", f"k{i}", v)
    queries = vecs[:50] + 0.05 * unit(rng, 50)
    agree = 0
    for q in queries:
        q = q / np.linalg.norm(q)
        best = int(np.argmax(vecs @ q))
        found = index.search("p", q, k=4)
        assert found[0].similarity >= found[-1].similarity
        agree += found[0].key == f"k{best}"
        assert abs(found[0].similarity - float(vecs[int(found[0].key[1:])] @ q)) < 1e-2
    assert agree >= 49


def test_partitions_are_separate_and_removal_works() -> None:
    rng = np.random.default_rng(1)
    v = unit(rng, 3)
    index = VectorIndex()
    index.add("tenant-a", "a", v[0])
    index.add("tenant-b", "b", v[0])
    assert [n.key for n in index.search("tenant-a", v[0])] == ["a"]
    assert index.search("tenant-c", v[0]) == []
    assert index.remove("a") and not index.remove("a")
    assert index.search("tenant-a", v[0]) == [] and len(index) == 1
    index.add("tenant-b", "b2", v[1])
    index.remove("b")
    assert [n.key for n in index.search("tenant-b", v[1])] == ["b2"]


def test_bad_vectors_are_refused() -> None:
    index = VectorIndex()
    index.add("p", "a", np.ones(8))
    with pytest.raises(ValueError, match="8"):
        index.add("p", "b", np.ones(4))
    with pytest.raises(ValueError, match="zero"):
        index.add("p", "c", np.zeros(8))
    assert len(index) == 1


def test_an_hnsw_partition_then_the_encoder_does_not_crash_the_process() -> None:
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from pointsman.cache.index import VectorIndex\n"
        "index = VectorIndex(ann_from=2)\n"
        "for i in range(4): index.add('p', str(i), np.random.default_rng(i).normal(size=8))\n"
        "import onnxruntime\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
