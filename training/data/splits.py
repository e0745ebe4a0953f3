"""Deterministic train / validation / test splits and normalization statistics fitted on the train part only.

`NormStats` is plain data (`to_dict` / `from_dict` give JSON lists), meant to be stored in checkpoints and
model cards so that serving normalizes exactly as training did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

IndexArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Split:
    """Disjoint sorted index arrays that together cover range(n)."""

    train: IndexArray
    val: IndexArray
    test: IndexArray


def split_indices(n: int, fractions: Sequence[float] = (0.8, 0.1, 0.1), seed: int = 0, shuffle: bool = True) -> Split:
    """Split range(n) by `fractions` (train, val, test; summing to 1), by seed.

    `shuffle=False` keeps contiguous blocks in order (train first), which suits windows cut from one time
    series: shuffled overlapping windows would leak the validation steps into training.
    """
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ValueError(
            f"fractions must be three non-negative numbers (train, val, test) summing to 1, got {fractions}"
        )
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    n_val, n_test = round(n * fractions[1]), round(n * fractions[2])
    n_train = n - n_val - n_test
    parts = np.split(order.astype(np.int64), [n_train, n_train + n_val])
    return Split(train=np.sort(parts[0]), val=np.sort(parts[1]), test=np.sort(parts[2]))


def block_split(n: int, fractions: Sequence[float], gap: int) -> Split:
    """Contiguous blocks in order (train, validation, test), each later block starting `gap` indices after the
    one before ends, for windows cut with stride 1 from one series.

    Window i holds steps i .. i + L + H - 1; with gap >= H - 1 no step is a target of windows in two blocks, so
    validation and test targets were never training targets. The dropped windows are counted out of the earlier
    block (train keeps its share of what remains).
    """
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    usable = n - 2 * gap
    if usable < 3:
        raise ValueError(f"{n} windows leave too few for three blocks with a gap of {gap} between them")
    blocks = split_indices(usable, fractions, shuffle=False)
    return Split(train=blocks.train, val=blocks.val + gap, test=blocks.test + 2 * gap)


@dataclass(frozen=True)
class NormStats:
    """Per-channel (or per-feature) mean and standard deviation; x_norm = (x - mean) / std."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NormStats:
        mean, std = tuple(float(v) for v in data["mean"]), tuple(float(v) for v in data["std"])
        if len(mean) != len(std) or min(std, default=1.0) <= 0:
            raise ValueError(f"mean and std need equal lengths and std > 0, got {data}")
        return cls(mean, std)

    def _shaped(self, values: tuple[float, ...], ndim: int, axis: int) -> npt.NDArray[np.float32]:
        shape = [1] * ndim
        shape[axis] = len(values)
        return np.asarray(values, dtype=np.float32).reshape(shape)

    def normalize(self, x: npt.ArrayLike, axis: int = -1) -> npt.NDArray[np.float32]:
        """(x - mean) / std with the statistics laid along `axis` of x."""
        array = np.asarray(x, dtype=np.float32)
        return (array - self._shaped(self.mean, array.ndim, axis)) / self._shaped(self.std, array.ndim, axis)

    def denormalize(self, x: npt.ArrayLike, axis: int = -1) -> npt.NDArray[np.float32]:
        array = np.asarray(x, dtype=np.float32)
        return array * self._shaped(self.std, array.ndim, axis) + self._shaped(self.mean, array.ndim, axis)


def compute_stats(
    data: npt.NDArray[np.generic],
    indices: npt.ArrayLike | None = None,
    axis: int = -1,
    scale: float = 1.0,
    chunk_size: int = 256,
) -> NormStats:
    """Mean and std along `axis` of `data[indices]` (pass the train indices), values multiplied by `scale`.

    Works through the first axis in chunks with float64 accumulators, so 20k uint8 images never become one
    float array; e.g. `compute_stats(images, split.train, axis=-1, scale=1 / 255)` for NHWC pixels in [0, 1].
    A constant channel gets std 1 so normalizing it cannot divide by zero.
    """
    rows = np.arange(len(data)) if indices is None else np.asarray(indices, dtype=np.int64)
    if rows.size == 0:
        raise ValueError("cannot compute statistics of zero samples")
    channel_axis = axis % data.ndim
    if channel_axis == 0:
        raise ValueError("axis 0 indexes samples; pass the channel or feature axis")
    reduce_axes = tuple(a for a in range(data.ndim) if a != channel_axis)
    total = np.zeros(data.shape[channel_axis])
    total_sq = np.zeros(data.shape[channel_axis])
    count = 0
    for start in range(0, len(rows), chunk_size):
        chunk = data[rows[start : start + chunk_size]].astype(np.float64) * scale
        mean = chunk.mean(axis=reduce_axes)
        size = chunk.size // chunk.shape[channel_axis]
        # Chan et al.'s pairwise update keeps the variance exact without a second pass.
        centred = ((chunk - np.expand_dims(mean, reduce_axes)) ** 2).sum(axis=reduce_axes)
        if count:
            delta = mean - total / count
            total_sq += centred + delta**2 * count * size / (count + size)
        else:
            total_sq += centred
        total += mean * size
        count += size
    std = np.sqrt(total_sq / count)
    std = np.where(std > 1e-8, std, 1.0)
    return NormStats(tuple((total / count).tolist()), tuple(std.tolist()))
