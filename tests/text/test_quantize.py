"""Smoothing is exact in fp32; the calibrated int8 model is close to fp32 (on a tiny random BERT)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from pointsman.text.model_file import model_file
from pointsman.text.quantize import activation_ranges, smooth
from pointsman.text.weights import ModelFiles

from .tiny_bert import TINY

IDS = [[2, 10, 11, 12, 3], [2, 20, 3], [2, *range(4, 20), 3]]


def embed(model: onnx.ModelProto | Path) -> np.ndarray:
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    return np.concatenate(
        [
            session.run(
                None,
                {"input_ids": np.array([ids], np.int32), "attention_mask": np.ones((1, len(ids)), np.int32)},
            )[0]
            for ids in IDS
        ]
    )


def test_smoothing_leaves_fp32_results_unchanged(tiny_bert: ModelFiles, tmp_path: Path) -> None:
    model = onnx.load(str(model_file(tiny_bert, "fp32", tmp_path)))
    before = embed(model)
    ranges = activation_ranges(model, IDS)
    assert all(r.ndim == 1 and (r > 0).all() for r in ranges.values())
    smooth(model, ranges, alpha=0.8)
    # One Mul per quantised node: attention, output projection, up and down projections in each layer.
    assert sum(n.name.endswith(".smooth") for n in model.graph.node) == 4 * TINY["num_hidden_layers"]
    np.testing.assert_allclose(embed(model), before, atol=1e-5)


def test_int8_model_is_close_to_fp32(tiny_bert: ModelFiles, tmp_path: Path) -> None:
    fp32 = embed(model_file(tiny_bert, "fp32", tmp_path))
    int8_path = model_file(tiny_bert, "int8", tmp_path)
    assert any(n.op_type == "QAttention" for n in onnx.load(str(int8_path)).graph.node)
    cosines = (embed(int8_path) * fp32).sum(1)
    assert cosines.min() > 0.95, cosines
