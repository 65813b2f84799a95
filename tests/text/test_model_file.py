"""Building the ONNX file from safetensors weights: cached, keyed by the weights, safe to race."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from pointsman.text.model_file import model_file
from pointsman.text.onnx_graph import BertConfig
from pointsman.text.weights import ModelFiles

from .tiny_bert import TINY, write_tiny_bert


def run(path: Path, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"input_ids": ids.astype(np.int32), "attention_mask": mask.astype(np.int32)})[0]


def test_built_once_then_reused(tiny_bert: ModelFiles, tmp_path: Path) -> None:
    cache = tmp_path / "models"
    path = model_file(tiny_bert, "fp32", cache)
    assert path.parent == cache and path.name.endswith("-fp32.onnx")
    assert tiny_bert.digest()[:16] in path.name
    built = path.stat().st_mtime_ns
    assert model_file(tiny_bert, "fp32", cache) == path and path.stat().st_mtime_ns == built
    assert sorted(p.name for p in cache.iterdir()) == [path.name]  # no temporary files left behind


def test_other_weights_build_another_file(tiny_bert: ModelFiles, tmp_path: Path) -> None:
    cache = tmp_path / "models"
    other = write_tiny_bert(tmp_path / "other", seed=1)
    a, b = model_file(tiny_bert, "fp32", cache), model_file(other, "fp32", cache)
    assert a != b
    ids, mask = np.array([[1, 5, 7, 2]]), np.ones((1, 4))
    assert not np.allclose(run(a, ids, mask), run(b, ids, mask))


def test_padded_batch_equals_single_runs(tiny_bert: ModelFiles, tmp_path: Path) -> None:
    path = model_file(tiny_bert, "fp32", tmp_path)
    rows = [[1, 5, 7, 9, 11, 2], [1, 8, 2], [1, 3, 4, 2]]
    ids = np.zeros((3, 6), dtype=np.int64)
    mask = np.zeros((3, 6), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)], mask[i, : len(row)] = row, 1
    batch = run(path, ids, mask)
    singles = np.concatenate([run(path, np.array([r]), np.ones((1, len(r)))) for r in rows])
    np.testing.assert_allclose(batch, singles, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


def test_int8_file(tiny_bert: ModelFiles, tmp_path: Path) -> None:
    path = model_file(tiny_bert, "int8", tmp_path)
    assert path.name.endswith("-int8.onnx") and path.with_name(path.name.replace("int8", "fp32")).exists()
    out = run(path, np.array([[1, 5, 7, 2]]), np.ones((1, 4)))
    assert out.shape == (1, TINY["hidden_size"]) and np.isfinite(out).all()
    with pytest.raises(ValueError, match="numerics must be 'fp32' or 'int8', got 'fp16'"):
        model_file(tiny_bert, "fp16", tmp_path)


def _build(directory: str, cache: str, go, paths) -> None:
    go.wait()  # start together, so the builds really overlap
    paths.put(str(model_file(ModelFiles(Path(directory)), "fp32", Path(cache))))


def test_processes_racing_to_build_agree(tiny_bert: ModelFiles, tmp_path: Path) -> None:
    cache = tmp_path / "models"
    ctx = multiprocessing.get_context("spawn")
    go, paths = ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(target=_build, args=(str(tiny_bert.directory), str(cache), go, paths)) for _ in range(4)
    ]
    for w in workers:
        w.start()
    go.set()
    built = {paths.get(timeout=60) for _ in workers}
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    assert len(built) == 1
    assert [p.name for p in cache.iterdir()] == [Path(built.pop()).name]  # one file, no temporaries


def test_unwritable_cache_says_what_to_do(tiny_bert: ModelFiles, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(OSError, match=r"cannot write the encoder model to .*not-a-dir.*POINTSMAN_CACHE_DIR"):
        model_file(tiny_bert, "fp32", blocker / "models")


def test_config_that_is_not_bert_is_refused() -> None:
    with pytest.raises(ValueError, match="expected a BERT model with exact GELU, got model_type='roberta'"):
        BertConfig.from_json({**TINY, "model_type": "roberta"})
    with pytest.raises(ValueError, match="position_embedding_type 'relative_key'"):
        BertConfig.from_json({**TINY, "position_embedding_type": "relative_key"})
