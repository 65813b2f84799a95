"""Shared steps of training a classifier kind: embed (cached, with a progress bar) and fit."""

from __future__ import annotations

import time
from typing import Any, Mapping, Sequence

import numpy as np

from pointsman.data.guard_sets import TextSet
from pointsman.routers.base import Queries
from pointsman.signals.classifiers.model import TextClassifier
from pointsman.text.encoder import Encoder


def resolve_encoder(encoder: Encoder | None) -> Encoder:
    if encoder is not None:
        return encoder
    from pointsman.signals.classifiers.embed import default_encoder

    return default_encoder()


def embed(texts: Sequence[str], encoder: Encoder, progress: bool = False) -> Queries:
    """Texts with their embeddings (from the on-disk cache where already computed)."""
    texts = list(texts)
    return Queries(texts=texts, embeddings=encoder.encode(texts, progress=progress), encoder_id=encoder.id)


def fit(
    kind: str,
    params: Mapping[str, Any],
    data: TextSet,
    encoder: Encoder,
    *,
    labels: Sequence[str] | None = None,
    weights: Sequence[float] | np.ndarray | None = None,
    progress: bool = False,
    info: Mapping[str, Any] | None = None,
) -> TextClassifier:
    """Fit a `TextClassifier(**params)` on `data` (its labels unless `labels` is given); `info_` records
    the kind, the training rows per label and source, the fit time and `info`."""
    queries = embed(data.texts, encoder, progress)
    if progress:
        from rich.console import Console

        Console(stderr=True).print(f"fitting {kind} classifier on {len(data):,} rows ...", highlight=False)
    t0 = time.perf_counter()
    clf = TextClassifier(**params).fit(queries, labels if labels is not None else data.labels, weights)
    sources: dict[str, int] = {}
    for s in data.sources:
        sources[s.split("/")[0]] = sources.get(s.split("/")[0], 0) + 1
    clf.info_ = {
        "kind": kind,
        "rows": len(data),
        "labels": data.counts()
        if labels is None
        else TextSet(list(data.texts), list(labels), list(data.sources)).counts(),
        "sources": sources,
        "fit_seconds": round(time.perf_counter() - t0, 2),
        **(info or {}),
    }
    return clf
