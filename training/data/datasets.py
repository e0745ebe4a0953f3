"""Thin torch Datasets over the numpy generators and arrays: float tensors in the layouts the models take.

The only module of the package that imports torch; everything it wraps is numpy.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

from training.data.moving_digits import MovingDigitsConfig, moving_digits
from training.data.splits import NormStats


class PoseDataset(Dataset[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """(image (3, H, W) float32 in [0, 1], keypoints (17, 2) float32, visibility (17,) uint8 COCO flags).

    Keypoints are divided by (W, H) into the pose CNN's [0, 1] frame (x / W, y / H, pixel centres at
    (c + 0.5) / W) unless `keypoints_in_pixels`. Images stay in [0, 1] because the pose CNN normalizes
    inside its graph; pass `stats` (per channel, of [0, 1] pixels) for a model that does not.
    """

    def __init__(
        self,
        images: npt.NDArray[np.uint8],
        keypoints: npt.NDArray[np.float32],
        visibility: npt.NDArray[np.uint8],
        stats: NormStats | None = None,
        keypoints_in_pixels: bool = False,
    ) -> None:
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
        if not len(images) == len(keypoints) == len(visibility):
            lengths = (len(images), len(keypoints), len(visibility))
            raise ValueError(f"images, keypoints and visibility differ in length: {lengths}")
        self.images, self.keypoints, self.visibility, self.stats = images, keypoints, visibility, stats
        height, width = images.shape[1:3]
        self.keypoint_scale = np.float32(1.0) if keypoints_in_pixels else np.array([1 / width, 1 / height], np.float32)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        image = self.images[index].astype(np.float32) / 255.0
        if self.stats is not None:
            image = self.stats.normalize(image, axis=-1)
        return (
            torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1))),  # (3, H, W)
            torch.from_numpy(self.keypoints[index] * self.keypoint_scale),
            torch.from_numpy(self.visibility[index].copy()),
        )


class SequenceDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """(inputs (L, F...), targets (H, F...)) float32, normalized along `axis` by `stats` when given."""

    def __init__(
        self,
        inputs: npt.NDArray[np.floating],
        targets: npt.NDArray[np.floating],
        stats: NormStats | None = None,
        axis: int = -1,
    ) -> None:
        if len(inputs) != len(targets):
            raise ValueError(f"inputs and targets differ in length: {len(inputs)} vs {len(targets)}")
        self.inputs, self.targets, self.stats, self.axis = inputs, targets, stats, axis

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = self.inputs[index].astype(np.float32), self.targets[index].astype(np.float32)
        if self.stats is not None:
            x, y = self.stats.normalize(x, self.axis), self.stats.normalize(y, self.axis)
        return torch.from_numpy(x), torch.from_numpy(y)


class MovingDigitsDataset(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Moving digits made on demand (~1 ms each): (T_in, 1, C, C) inputs, (T_out, 1, C, C) targets.

    Item i is sequence `first + i` of `seed`, so disjoint ranges give disjoint train / validation / test sets.
    """

    def __init__(self, seed: int, length: int, first: int = 0, config: MovingDigitsConfig | None = None) -> None:
        self.seed, self.length, self.first, self.config = seed, length, first, config or MovingDigitsConfig()

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} sequences")
        sequence = moving_digits(self.seed, self.first + index, self.config)
        return torch.from_numpy(sequence.inputs), torch.from_numpy(sequence.targets)
