"""Splits never put a prompt (or a normalised duplicate of it) on both sides."""

from __future__ import annotations

import numpy as np
import pytest

from pointsman.data import (
    ModelInfo,
    RoutingDataset,
    assert_no_leak,
    deduplicate,
    group_kfold,
    llmrouter_test_split,
)


def _dataset(prompts: list[str]) -> RoutingDataset:
    n = len(prompts)
    return RoutingDataset(
        prompt_ids=[f"p{i}" for i in range(n)], prompts=prompts, tasks=[None] * n,
        models=[ModelInfo("a"), ModelInfo("b")], quality=np.arange(2 * n, dtype=float).reshape(n, 2),
        cost=np.zeros((n, 2)),
    )  # fmt: skip


def _keys(ds: RoutingDataset, rows: np.ndarray) -> set[str]:
    keys = ds.keys()
    return {keys[i] for i in rows}


def test_deduplicate_keeps_first_and_counts():
    ds = _dataset(["Hello  World", "other", "hello world ", "HELLO\nworld", "other"])
    out = deduplicate(ds)
    assert out.prompts == ["Hello  World", "other"]
    assert out.info["duplicates_dropped"] == 3
    assert out.info["dropped_prompt_ids"] == ["p2", "p3", "p4"]
    np.testing.assert_array_equal(out.quality, ds.quality[[0, 1]])


def test_group_kfold_keeps_duplicates_together():
    prompts = [f"prompt {i % 37}" + (" " if i % 2 else "") for i in range(200)]  # every key 5-6 times
    ds = _dataset(prompts)
    splits = group_kfold(ds, k=5, seed=3)
    tests = np.concatenate([te for _, te in splits])
    np.testing.assert_array_equal(np.sort(tests), np.arange(200))  # each row tested exactly once
    for train, test in splits:
        assert not _keys(ds, train) & _keys(ds, test)
        assert len(train) + len(test) == 200
    assert group_kfold(ds, 5, seed=3)[0][1].tolist() == splits[0][1].tolist()  # seeded
    assert group_kfold(ds, 5, seed=4)[0][1].tolist() != splits[0][1].tolist()


def test_group_kfold_rejects_bad_k():
    with pytest.raises(ValueError, match="k=4"):
        group_kfold(_dataset(["a", "b", "A "]), k=4)


def test_real_kfold_no_leak(llmrouter):
    splits = group_kfold(llmrouter, k=5, seed=0)
    sizes = [len(te) for _, te in splits]
    assert max(sizes) - min(sizes) <= 1
    for train, test in splits:
        assert_no_leak(llmrouter, train, test)


def test_llmrouter_test_split(llmrouter):
    train, test = llmrouter_test_split(llmrouter)
    assert len(test) == 381 and len(train) == 5608
    assert not _keys(llmrouter, train) & _keys(llmrouter, test)
    assert all(llmrouter.prompt_ids[i].startswith("test:") for i in test)


def test_llmrouter_test_split_on_undeduplicated_rows():
    ds = _dataset(["a", "b", "B", "a ", "c", "c"])
    ds.prompt_ids = ["train:0", "train:1", "train:2", "test:0", "test:1", "test:2"]
    ds.info["upstream_test_ids"] = ["test:0", "test:1", "test:2"]
    train, test = llmrouter_test_split(ds)
    assert train.tolist() == [0, 1] and test.tolist() == [4]


def test_assert_no_leak_reports():
    ds = _dataset(["x", "X", "y"])
    with pytest.raises(ValueError, match="1 prompts on both sides"):
        assert_no_leak(ds, np.array([0, 2]), np.array([1]))
    with pytest.raises(ValueError, match="upstream test ids"):
        llmrouter_test_split(ds)
