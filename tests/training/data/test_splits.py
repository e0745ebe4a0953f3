from __future__ import annotations

import json

import numpy as np
import pytest

from training.data.splits import NormStats, compute_stats, split_indices


def test_split_is_disjoint_covering_and_sized() -> None:
    split = split_indices(103, (0.7, 0.2, 0.1), seed=4)
    parts = np.concatenate([split.train, split.val, split.test])
    np.testing.assert_array_equal(np.sort(parts), np.arange(103))
    assert (len(split.train), len(split.val), len(split.test)) == (72, 21, 10)


def test_split_depends_on_the_seed_only() -> None:
    a, b, c = split_indices(50, seed=1), split_indices(50, seed=1), split_indices(50, seed=2)
    np.testing.assert_array_equal(a.val, b.val)
    assert not np.array_equal(a.val, c.val)


def test_unshuffled_split_keeps_blocks_in_order() -> None:
    split = split_indices(10, (0.6, 0.2, 0.2), shuffle=False)
    assert split.train.tolist() == list(range(6))
    assert split.val.tolist() == [6, 7]
    assert split.test.tolist() == [8, 9]


def test_bad_fractions_are_refused() -> None:
    with pytest.raises(ValueError, match="summing to 1"):
        split_indices(10, (0.5, 0.2, 0.2))


def test_stats_come_from_the_train_rows_only() -> None:
    rng = np.random.default_rng(0)
    data = rng.normal([1.0, -2.0, 5.0], [0.5, 2.0, 3.0], size=(40, 6, 3))
    split = split_indices(40, seed=0)
    stats = compute_stats(data, split.train, axis=-1, chunk_size=7)
    train = data[split.train].reshape(-1, 3)
    np.testing.assert_allclose(stats.mean, train.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(stats.std, train.std(axis=0), rtol=1e-10)
    data[split.val] = 1e6  # what validation and test hold cannot move the statistics
    data[split.test] = -1e6
    assert compute_stats(data, split.train, axis=-1, chunk_size=7) == stats


def test_per_channel_stats_of_uint8_images_in_nchw() -> None:
    images = np.zeros((5, 3, 4, 4), np.uint8)
    images[:, 1] = 255
    images[:, 2, :2] = 255
    stats = compute_stats(images, axis=1, scale=1 / 255)
    np.testing.assert_allclose(stats.mean, [0.0, 1.0, 0.5])
    np.testing.assert_allclose(stats.std, [1.0, 1.0, 0.5])  # constant channels get std 1
    normalized = stats.normalize(images / 255, axis=1)
    np.testing.assert_allclose(normalized[:, 2].std(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(stats.denormalize(normalized, axis=1), images / 255, atol=1e-6)


def test_stats_serialize_to_json_and_back() -> None:
    stats = NormStats(mean=(0.5, 0.25), std=(0.2, 0.1))
    assert NormStats.from_dict(json.loads(json.dumps(stats.to_dict()))) == stats
    with pytest.raises(ValueError, match="std > 0"):
        NormStats.from_dict({"mean": [0.0], "std": [0.0]})
