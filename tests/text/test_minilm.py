"""The MiniLM encoder against the reference implementation, and its behaviour at the edges."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from pointsman.text.encoder import Encoder, encoder_for_id, get_encoder
from pointsman.text.minilm import MAX_CHARS, MAX_TOKENS, MiniLMEncoder

REFERENCE = np.load(Path(__file__).with_name("reference_embeddings.npz"))
TEXTS = [str(t) for t in REFERENCE["texts"]]
LONG = max(TEXTS, key=len)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_fp32_matches_sentence_transformers(fp32: MiniLMEncoder) -> None:
    vectors = fp32.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    agreement = cosines(vectors, REFERENCE["embeddings"])
    assert agreement.min() >= 0.9999, dict(zip(TEXTS, agreement.round(6)))


def test_int8_stays_close_to_fp32(fp32: MiniLMEncoder, int8: MiniLMEncoder) -> None:
    agreement = cosines(int8.encode(TEXTS), fp32.encode(TEXTS))
    assert agreement.min() >= 0.985 and agreement.mean() >= 0.995, agreement.round(4)
    # ...but it is a different encoder: its vectors are not the fp32 ones.
    assert agreement.min() < 0.99999


def test_ids_name_weights_and_numerics(fp32: MiniLMEncoder, int8: MiniLMEncoder) -> None:
    assert (fp32.id, int8.id) == ("all-MiniLM-L6-v2/onnx-fp32", "all-MiniLM-L6-v2/onnx-int8")
    assert isinstance(fp32, Encoder) and fp32.dim == 384


@pytest.mark.parametrize("numerics", ["fp32", "int8"])
def test_batch_equals_single_and_is_deterministic(numerics: str, fp32, int8) -> None:
    encoder = fp32 if numerics == "fp32" else int8
    batch = encoder.encode(TEXTS)
    singles = np.stack([encoder.encode([t])[0] for t in TEXTS])
    # Each text runs on its own, so neither the batch nor its order changes a vector, even in int8.
    np.testing.assert_array_equal(batch, singles)
    np.testing.assert_array_equal(encoder.encode(TEXTS[::-1]), batch[::-1])
    np.testing.assert_array_equal(MiniLMEncoder(quantized=numerics == "int8").encode(TEXTS), batch)
    np.testing.assert_array_equal(encoder.encode(TEXTS, progress=True), batch)


def test_long_texts_are_truncated_to_256_word_pieces(fp32: MiniLMEncoder) -> None:
    assert fp32.token_count(LONG) == MAX_TOKENS
    longer = LONG + " And then a great deal more text that the model never sees." * 50
    huge = longer + "x" * (3 * MAX_CHARS)  # cut before tokenising, so it costs no more than the rest
    a, b, c = fp32.encode([LONG, longer, huge])
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, c, atol=1e-6)
    # A text short of the limit is not cut: its tail matters.
    short = "The first part of a short prompt."
    assert cosines(fp32.encode([short]), fp32.encode([short + " Then something else entirely."]))[0] < 0.99


def test_empty_inputs(fp32: MiniLMEncoder) -> None:
    assert fp32.encode([]).shape == (0, 384)
    (empty,) = fp32.encode([""])
    assert np.isfinite(empty).all() and abs(np.linalg.norm(empty) - 1) < 1e-5


def test_bad_inputs_get_clear_errors(fp32: MiniLMEncoder) -> None:
    with pytest.raises(TypeError, match=r"encode\(\[text\]\)"):
        fp32.encode("one string")
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        fp32.encode(["fine", 3])


def test_get_encoder_is_one_shared_instance_per_process() -> None:
    seen: list[Encoder] = []
    threads = [threading.Thread(target=lambda: seen.append(get_encoder(quantized=False))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(e) for e in seen}) == 1
    assert get_encoder(quantized=True) is not seen[0]
    assert encoder_for_id("all-MiniLM-L6-v2/onnx-fp32") is seen[0]
    assert encoder_for_id("all-MiniLM-L6-v2/onnx-int8") is get_encoder(quantized=True)


def test_unknown_encoders_are_named_in_errors() -> None:
    with pytest.raises(ValueError, match="unknown encoder 'bert'.*minilm"):
        get_encoder("bert")
    with pytest.raises(ValueError, match="unknown encoder id 'all-MiniLM-L6-v2/onnx-fp16'.*onnx-fp32"):
        encoder_for_id("all-MiniLM-L6-v2/onnx-fp16")
