"""all-MiniLM-L6-v2 sentence embeddings through onnxruntime + tokenizers (no torch at run time)."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Callable, Iterator, Sequence

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from pointsman.text.model_file import model_file
from pointsman.text.weights import ModelFiles, minilm_files

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length: longer texts keep their first 254 word pieces
# Texts are cut to this many characters before tokenising: tokenising a megabyte takes seconds, and
# 256 word pieces never need more than a few thousand characters of natural text.
MAX_CHARS = 16_384
# Batches are sorted by length and sized by padded tokens, so short texts go in large batches.
BATCH_TOKENS = 8_192
MAX_BATCH = 256


class MiniLMEncoder:
    """Implements `Encoder`. Safe to share between threads; use `get_encoder()` for the shared instance.

    One query (`encode([text])`) runs on one intra-op thread (a serving request should not take every
    core); larger batches use all cores this process may run on.
    """

    dim = DIM

    def __init__(self, quantized: bool = False, files: ModelFiles | None = None) -> None:
        self.numerics = "int8" if quantized else "fp32"
        self.id = f"{MODEL_NAME}/onnx-{self.numerics}"
        self._files = files or minilm_files()
        self._tokenizer = Tokenizer.from_file(str(self._files.tokenizer))
        # The shipped tokenizer.json pads and truncates to a fixed 128; the model takes 256, unpadded.
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        self._lock = threading.Lock()
        self._sessions: dict[int, ort.InferenceSession] = {}

    def __repr__(self) -> str:
        return f"MiniLMEncoder(id={self.id!r})"

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """(len(texts), 384) float32, rows L2-normalised; same order as `texts`."""
        texts = _check_texts(texts)
        out = np.empty((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        if len(texts) == 1:
            encodings = [self._tokenizer.encode(texts[0][:MAX_CHARS])]
        else:
            encodings = self._tokenizer.encode_batch([t[:MAX_CHARS] for t in texts])
        session = self._session(1 if len(texts) == 1 else _cores())
        with _progress(progress, len(texts), f"embedding ({self.id})") as advance:
            for rows in _batches(encodings):
                ids, mask = _pad([encodings[i] for i in rows])
                out[rows] = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
                advance(len(rows))
        return out

    def token_count(self, text: str) -> int:
        """Word pieces the model sees for `text` (including [CLS] and [SEP]; at most 256)."""
        return len(self._tokenizer.encode(text[:MAX_CHARS]).ids)

    def _session(self, threads: int) -> ort.InferenceSession:
        with self._lock:
            if threads not in self._sessions:
                options = ort.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
                path = model_file(self._files, self.numerics)
                self._sessions[threads] = ort.InferenceSession(
                    str(path), options, providers=["CPUExecutionProvider"]
                )
            return self._sessions[threads]


def _check_texts(texts: Sequence[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("encode() takes a sequence of texts, not one string: use encode([text])")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] is {type(text).__name__}, not str")
    return texts


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _batches(encodings: list[Encoding]) -> Iterator[np.ndarray]:
    """Row indices, shortest texts first, in batches of at most BATCH_TOKENS padded tokens."""
    order = np.argsort([len(e.ids) for e in encodings], kind="stable")
    start = 0
    while start < len(order):
        end = start + 1
        # Sorted ascending, so the last row of a batch sets its padded length.
        while end < len(order) and end - start < MAX_BATCH and (
            (end - start + 1) * len(encodings[order[end]].ids) <= BATCH_TOKENS
        ):
            end += 1
        yield order[start:end]
        start = end


def _pad(encodings: list[Encoding]) -> tuple[np.ndarray, np.ndarray]:
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int32)
    mask = np.zeros((len(encodings), width), dtype=np.int32)
    for row, e in enumerate(encodings):
        ids[row, : len(e.ids)] = e.ids
        mask[row, : len(e.ids)] = 1
    return ids, mask


@contextmanager
def _progress(enabled: bool, total: int, label: str) -> Iterator[Callable[[int], None]]:
    """Yields `advance(n)`: a rich progress bar over `total` texts, or a no-op."""
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import MofNCompleteColumn, Progress

    with Progress(*Progress.get_default_columns(), MofNCompleteColumn()) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.update(task, advance=n)
