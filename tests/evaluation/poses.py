"""Hand-checkable COCO-17 poses for the evaluation tests."""

from __future__ import annotations

import numpy as np

from evaluation.arrays import FloatArray, IntArray


def coco_pose() -> FloatArray:
    """A (17, 2) pose whose primary torso (5 -> 12) is 100 px and fallback torso (6 -> 11) is 50 px."""
    pose = np.array([[200.0 + 10 * k, 300.0 + 7 * k] for k in range(17)])
    pose[5], pose[12] = (0.0, 0.0), (60.0, 80.0)
    pose[6], pose[11] = (100.0, 0.0), (100.0, 50.0)
    pose[3], pose[4] = (10.0, -40.0), (30.0, -40.0)  # ears 20 px apart
    return pose


def labelled(num_samples: int = 1) -> IntArray:
    return np.full((num_samples, 17), 2, dtype=np.int64)
