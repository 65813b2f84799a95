"""Splits that never put one prompt (or a normalised duplicate of it) on both sides.

The key is `normalize_prompt` (whitespace-normalised, lower-cased text), the same key everywhere.
"""

from __future__ import annotations

import numpy as np

from pointsman.data.dataset import RoutingDataset, normalize_prompt

Split = tuple[np.ndarray, np.ndarray]


def deduplicate(dataset: RoutingDataset) -> RoutingDataset:
    """Keep the first row of each key. Adds the count to `info["duplicates_dropped"]` (and their ids)."""
    seen: set[str] = set()
    keep, dropped = [], []
    for i, key in enumerate(dataset.keys()):
        (dropped if key in seen else keep).append(i)
        seen.add(key)
    if not dropped:
        return dataset
    out = dataset.subset(keep)
    out.info["duplicates_dropped"] = dataset.info.get("duplicates_dropped", 0) + len(dropped)
    out.info["dropped_prompt_ids"] = list(dataset.info.get("dropped_prompt_ids", [])) + [
        dataset.prompt_ids[i] for i in dropped
    ]
    return out


def group_kfold(dataset: RoutingDataset, k: int = 5, seed: int = 0) -> list[Split]:
    """k (train_idx, test_idx) pairs; rows sharing a key are always in the same fold.

    Groups are shuffled with `seed`, then dealt largest-first to the currently smallest fold, so folds
    are within one group's size of each other.
    """
    keys = dataset.keys()
    groups: dict[str, list[int]] = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    if not 2 <= k <= len(groups):
        raise ValueError(f"k={k}: need 2 <= k <= number of distinct prompts ({len(groups)})")
    rng = np.random.default_rng(seed)
    members = list(groups.values())
    order = rng.permutation(len(members))
    order = sorted(order, key=lambda g: -len(members[g]))  # stable: ties keep the shuffled order
    folds: list[list[int]] = [[] for _ in range(k)]
    for g in order:
        min(folds, key=len).extend(members[g])
    all_rows = np.arange(dataset.n_prompts)
    splits = []
    for fold in folds:
        test = np.sort(np.array(fold, dtype=np.int64))
        splits.append((np.setdiff1d(all_rows, test), test))
    return splits


def llmrouter_test_split(dataset: RoutingDataset) -> Split:
    """LLMRouter's own split made fair: (train_idx, test_idx).

    Test = the rows from the upstream test file whose key is not in the upstream train file (381 on the
    real data); train = the other rows, first of each key kept. Needs a dataset from the llmrouter loader
    (it records the upstream test rows' ids in `info["upstream_test_ids"]`).
    """
    test_ids = dataset.info.get("upstream_test_ids")
    if test_ids is None:
        raise ValueError(
            f"dataset {dataset.name!r} has no upstream test ids: llmrouter_test_split needs data from the"
            " llmrouter loader"
        )
    test_ids = set(test_ids)
    keys = dataset.keys()
    is_test = np.array([pid in test_ids for pid in dataset.prompt_ids])
    train_rows, seen = [], set()
    for i in np.flatnonzero(~is_test):
        if keys[i] not in seen:
            train_rows.append(i)
            seen.add(keys[i])
    test_rows, test_seen = [], set()
    for i in np.flatnonzero(is_test):
        if keys[i] not in seen and keys[i] not in test_seen:
            test_rows.append(i)
            test_seen.add(keys[i])
    return np.array(train_rows, dtype=np.int64), np.array(test_rows, dtype=np.int64)


def assert_no_leak(dataset: RoutingDataset, train_idx: np.ndarray, test_idx: np.ndarray) -> None:
    """Raise if any normalised prompt appears on both sides (for callers' own splits)."""
    keys = dataset.keys()
    shared = {keys[i] for i in train_idx} & {keys[i] for i in test_idx}
    if shared:
        example = next(iter(shared))
        raise ValueError(f"{len(shared)} prompts on both sides of the split, e.g. {example[:80]!r}")


__all__ = [
    "Split",
    "assert_no_leak",
    "deduplicate",
    "group_kfold",
    "llmrouter_test_split",
    "normalize_prompt",
]
