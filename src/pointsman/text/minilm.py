"""all-MiniLM-L6-v2 sentence embeddings through onnxruntime + tokenizers (no torch at run time)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from pointsman.text.encoder import DEFAULT_QUANTIZED, text_list
from pointsman.text.model_file import model_file
from pointsman.text.weights import ModelFiles, minilm_files

MODEL_NAME = "all-MiniLM-L6-v2"
DIM = 384
MAX_TOKENS = 256  # the model's max_seq_length: longer texts keep their first 254 word pieces
# Texts are cut to this many characters before tokenising: tokenising a megabyte takes seconds, and
# 256 word pieces never need more than a few thousand characters of natural text.
MAX_CHARS = 16_384


class MiniLMEncoder:
    """Implements `Encoder`. Safe to share between threads; use `get_encoder()` for the shared instance.

    Every text runs on its own through a one-thread onnxruntime session: a serving query takes one core,
    and a batch spreads its texts over a thread pool of all the cores this process may use. Unpadded runs
    cost less than padded batches here (about 1.6x fewer CPU-seconds on the llmrouter prompts, even sorted
    by length, see docs/embeddings.md), and they make a text's vector independent of the batch it came in
    (int8 dynamic quantisation scales activations per tensor, so padding and neighbours would leak in).
    """

    dim = DIM

    def __init__(self, quantized: bool = DEFAULT_QUANTIZED, files: ModelFiles | None = None) -> None:
        self.numerics = "int8" if quantized else "fp32"
        self.id = f"{MODEL_NAME}/onnx-{self.numerics}"
        self._files = files or minilm_files()
        self._tokenizer = Tokenizer.from_file(str(self._files.tokenizer))
        # The shipped tokenizer.json pads and truncates to a fixed 128; the model takes up to 256, unpadded.
        self._tokenizer.enable_truncation(MAX_TOKENS)
        self._tokenizer.no_padding()
        self._lock = threading.Lock()
        self._onnx: ort.InferenceSession | None = None

    def __repr__(self) -> str:
        return f"MiniLMEncoder(id={self.id!r})"

    def encode(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        """(len(texts), 384) float32, rows L2-normalised; same order as `texts`."""
        texts = text_list(texts)
        out = np.empty((len(texts), DIM), dtype=np.float32)
        if len(texts) == 1:
            out[0] = self._run(self._tokenizer.encode(texts[0][:MAX_CHARS]).ids)
        elif texts:
            encodings = self._tokenizer.encode_batch([t[:MAX_CHARS] for t in texts])
            self._session()  # the first use builds the model file: before the progress bar, not inside it
            # Longest first, so the pool does not end waiting on one long text.
            order = sorted(range(len(texts)), key=lambda i: -len(encodings[i].ids))
            with (
                _progress(progress, len(texts), f"embedding ({self.id})") as advance,
                ThreadPoolExecutor(_cores(), thread_name_prefix="pointsman-embed") as pool,
            ):
                for i, vector in zip(order, pool.map(lambda i: self._run(encodings[i].ids), order)):
                    out[i] = vector
                    advance(1)
        return out

    def token_count(self, text: str) -> int:
        """Word pieces the model sees for `text` (including [CLS] and [SEP]; at most 256)."""
        return len(self._tokenizer.encode(text[:MAX_CHARS]).ids)

    def _run(self, ids: list[int]) -> np.ndarray:
        batch = np.array([ids], dtype=np.int32)
        return self._session().run(None, {"input_ids": batch, "attention_mask": np.ones_like(batch)})[0][0]

    def _session(self) -> ort.InferenceSession:
        if self._onnx is None:
            with self._lock:
                if self._onnx is None:
                    self._onnx = self._open_session()
        return self._onnx

    def _open_session(self) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        path = model_file(self._files, self.numerics)
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


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
