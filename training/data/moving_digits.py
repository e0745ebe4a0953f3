"""Moving digits: the Moving-MNIST protocol of the ConvLSTM paper on scikit-learn's bundled 8x8 digits.

Each sequence puts `num_digits` upscaled digits at random positions with random velocities in a square canvas;
they move in straight lines and bounce off the walls (the velocity component is reflected), overlapping digits
combine by maximum. The first `input_frames` are the inputs, the next `target_frames` the targets.
Sequence `i` of seed `s` depends only on `np.random.default_rng([s, i, 2])`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from training.data.body import FloatArray

_STREAM = 2  # keeps digit streams apart from pose and motion streams of the same seed


@dataclass(frozen=True)
class MovingDigitsConfig:
    canvas: int = 64  # side of the square frame
    digit_size: int = 20  # side of an upscaled digit
    num_digits: int = 2
    input_frames: int = 10
    target_frames: int = 10
    speed: tuple[float, float] = (2.0, 4.0)  # pixels per frame, uniform range; the direction is uniform

    def __post_init__(self) -> None:
        if not 0 < self.digit_size <= self.canvas:
            raise ValueError(f"digit_size must be in 1..canvas ({self.canvas}), got {self.digit_size}")
        if self.input_frames < 1 or self.target_frames < 1:
            raise ValueError("input_frames and target_frames must both be >= 1")


@dataclass(frozen=True)
class DigitSequence:
    inputs: npt.NDArray[np.float32]  # (T_in, 1, canvas, canvas) in [0, 1]
    targets: npt.NDArray[np.float32]  # (T_out, 1, canvas, canvas) in [0, 1]
    positions: FloatArray  # (T_in + T_out, num_digits, 2) top-left corner (x, y) of each digit, pixels
    labels: npt.NDArray[np.int64]  # (num_digits,) the digit classes


@functools.lru_cache(maxsize=4)
def digit_bank(size: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """All 1797 scikit-learn digits upscaled bilinearly to (size, size) in [0, 1], and their labels."""
    from sklearn.datasets import load_digits  # imported here: only this dataset needs scikit-learn

    digits = load_digits()
    images = [
        np.asarray(
            Image.fromarray(image.astype(np.float32) / 16.0, "F").resize((size, size), Image.Resampling.BILINEAR)
        )
        for image in digits.images
    ]
    return np.clip(np.stack(images), 0.0, 1.0).astype(np.float32), digits.target.astype(np.int64)


def bounce(start: FloatArray, velocity: FloatArray, steps: int, limit: float) -> FloatArray:
    """Positions (steps, ..., 2) moving from `start` at `velocity`, reflected off the walls 0 and `limit`."""
    travelled = start + velocity * np.arange(steps).reshape(-1, *([1] * start.ndim))
    # Unfolding the reflections: motion on a circle of length 2 * limit, folded back onto [0, limit].
    folded = np.mod(travelled, 2 * limit)
    return np.where(folded > limit, 2 * limit - folded, folded)


def moving_digits(seed: int, index: int, config: MovingDigitsConfig | None = None) -> DigitSequence:
    """Sequence `index` of the stream `seed`."""
    config = config or MovingDigitsConfig()
    rng = np.random.default_rng([seed, index, _STREAM])
    bank, classes = digit_bank(config.digit_size)
    chosen = rng.integers(0, len(bank), config.num_digits)
    limit = float(config.canvas - config.digit_size)
    start = rng.uniform(0, limit, (config.num_digits, 2))
    heading = rng.uniform(0, 2 * np.pi, config.num_digits)
    velocity = rng.uniform(*config.speed, config.num_digits)[:, None] * np.stack([np.cos(heading), np.sin(heading)], -1)
    steps = config.input_frames + config.target_frames
    positions = bounce(start, velocity, steps, limit)
    frames = np.zeros((steps, 1, config.canvas, config.canvas), np.float32)
    corners = np.rint(positions).astype(np.int64).tolist()
    size, digits = config.digit_size, [bank[d] for d in chosen]
    for t in range(steps):
        for (x, y), digit in zip(corners[t], digits, strict=True):
            patch = frames[t, 0, y : y + size, x : x + size]
            np.maximum(patch, digit, out=patch)
    return DigitSequence(
        inputs=frames[: config.input_frames],
        targets=frames[config.input_frames :],
        positions=positions,
        labels=classes[chosen],
    )


def moving_digits_batch(
    seed: int, indices: Iterable[int], config: MovingDigitsConfig | None = None
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Inputs (N, T_in, 1, C, C) and targets (N, T_out, 1, C, C) of sequences `indices`."""
    config = config or MovingDigitsConfig()
    items = [moving_digits(seed, int(i), config) for i in indices]
    shape = (1, config.canvas, config.canvas)
    inputs = np.stack([x.inputs for x in items]) if items else np.zeros((0, config.input_frames, *shape), np.float32)
    targets = np.stack([x.targets for x in items]) if items else np.zeros((0, config.target_frames, *shape), np.float32)
    return inputs, targets
