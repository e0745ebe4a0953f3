"""The evaluation-only renderer: deterministic, whole people in frame, and never on the training data path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evaluation.keypoints import NUM_COCO_KEYPOINTS
from tests.training.conftest import TINY_POSE, tiny_config
from training.data import heldout_style
from training.data.heldout_style import heldout_batch, heldout_sample
from training.tasks import PoseTask


def test_the_heldout_set_is_the_same_on_every_call() -> None:
    first, again = heldout_batch((64, 64), 5), heldout_batch((64, 64), 5)
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.keypoints, again.keypoints)
    np.testing.assert_array_equal(first.visibility, again.visibility)
    assert not np.array_equal(first.images[0], first.images[1])
    image, keypoints, _ = heldout_sample(heldout_style.HELDOUT_SEED, 3, (64, 64))
    np.testing.assert_array_equal(image, first.images[3])
    np.testing.assert_array_equal(keypoints, first.keypoints[3])


def test_every_person_is_whole_inside_the_frame() -> None:
    batch = heldout_batch((96, 80), 20)
    assert batch.images.shape == (20, 96, 80, 3)
    assert batch.keypoints.shape == (20, NUM_COCO_KEYPOINTS, 2)
    assert (batch.visibility[:, 5:] > 0).all()
    assert (batch.keypoints[..., 0] >= 0).all()
    assert (batch.keypoints[..., 0] < 80).all()
    assert (batch.keypoints[..., 1] < 96).all()


def test_no_training_data_module_imports_the_heldout_renderer() -> None:
    """In a fresh interpreter, the whole data path (generators, augmentation, styles) loads without it."""
    modules = ["training.data." + name for name in ("synthetic_pose", "augment", "figure_styles", "motion", "render")]
    code = f"import sys, {', '.join(modules)}; print('training.data.heldout_style' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "False"


def test_training_parts_never_call_the_heldout_renderer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Train and validation images come from the training generator even with the held-out test set switched on."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the held-out renderer was used for training data")

    monkeypatch.setattr("training.tasks.pose.heldout_batch", forbidden)
    monkeypatch.setattr(heldout_style, "heldout_sample", forbidden)
    config = tiny_config(TINY_POSE, tmp_path, "data.heldout_samples=4", "data.augment={}")
    parts = PoseTask()._parts(config, ("train", "val"))
    assert [len(parts[p][0]) for p in ("train", "val")] == [24, 12]
    with pytest.raises(AssertionError, match="held-out renderer"):
        PoseTask().test_split(config)  # the test split is where it belongs
