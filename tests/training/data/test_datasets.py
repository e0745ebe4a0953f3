from __future__ import annotations

import numpy as np
import torch

from training.data.datasets import MovingDigitsDataset, PoseDataset, SequenceDataset
from training.data.moving_digits import moving_digits
from training.data.splits import NormStats
from training.data.synthetic_pose import PoseConfig, pose_batch


def test_pose_dataset_gives_chw_floats_and_unit_keypoints() -> None:
    batch = pose_batch(0, range(2), PoseConfig(image_size=(64, 48)))
    image, keypoints, visibility = PoseDataset(batch.images, batch.keypoints, batch.visibility)[1]
    assert image.shape == (3, 64, 48)
    assert image.dtype == torch.float32
    assert float(image.min()) >= 0.0
    assert float(image.max()) <= 1.0
    np.testing.assert_allclose(image.numpy().transpose(1, 2, 0), batch.images[1] / 255, atol=1e-6)
    np.testing.assert_allclose(keypoints.numpy(), batch.keypoints[1] / [48, 64], rtol=1e-6)
    assert visibility.dtype == torch.uint8
    assert visibility.tolist() == batch.visibility[1].tolist()
    pixels = PoseDataset(batch.images, batch.keypoints, batch.visibility, keypoints_in_pixels=True)[1][1]
    np.testing.assert_array_equal(pixels.numpy(), batch.keypoints[1])


def test_sequence_dataset_normalizes_inputs_and_targets() -> None:
    inputs, targets = np.full((3, 4, 2), 5.0), np.full((3, 2, 2), 7.0)
    stats = NormStats(mean=(5.0, 3.0), std=(1.0, 2.0))
    x, y = SequenceDataset(inputs, targets, stats)[0]
    assert x.shape == (4, 2)
    assert y.shape == (2, 2)
    assert x.dtype == torch.float32
    np.testing.assert_allclose(x[0].numpy(), [0.0, 1.0])
    np.testing.assert_allclose(y[0].numpy(), [2.0, 2.0])


def test_moving_digits_dataset_items_are_the_generator_sequences() -> None:
    dataset = MovingDigitsDataset(seed=3, length=4, first=100)
    x, y = dataset[2]
    expected = moving_digits(3, 102)
    assert len(dataset) == 4
    assert x.shape == (10, 1, 64, 64)
    np.testing.assert_array_equal(x.numpy(), expected.inputs)
    np.testing.assert_array_equal(y.numpy(), expected.targets)
