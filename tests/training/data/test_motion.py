from __future__ import annotations

import numpy as np
import pytest

from evaluation.keypoints import NUM_COCO_KEYPOINTS, VISIBILITY_OCCLUDED, VISIBILITY_VISIBLE
from training.data.motion import ACTIONS, MotionConfig, motion_batch, motion_frames, motion_trajectory

SHORT = MotionConfig(num_frames=24)


@pytest.fixture(scope="module")
def trajectories() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return motion_batch(0, range(64), SHORT)


def test_same_seed_same_trajectory_and_other_seed_differs() -> None:
    first, again, other = motion_trajectory(1, 5, SHORT), motion_trajectory(1, 5, SHORT), motion_trajectory(2, 5, SHORT)
    np.testing.assert_array_equal(first.keypoints, again.keypoints)
    np.testing.assert_array_equal(first.visibility, again.visibility)
    assert not np.allclose(first.keypoints, other.keypoints)


def test_shapes_dtypes_and_balanced_actions(trajectories: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    keypoints, visibility, actions = trajectories
    assert keypoints.shape == (64, 24, NUM_COCO_KEYPOINTS, 2)
    assert keypoints.dtype == np.float32
    assert visibility.shape == (64, 24, NUM_COCO_KEYPOINTS)
    assert visibility.dtype == np.uint8
    np.testing.assert_array_equal(actions, np.arange(64) % len(ACTIONS))


def test_trajectories_are_smooth(trajectories: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    keypoints = trajectories[0]
    steps = np.linalg.norm(np.diff(keypoints, axis=1), axis=-1)  # (N, T-1, 17) pixels per frame
    assert steps.max() < 0.2 * 128
    # A frame is much closer to the next one than to a random other frame of the same sequence.
    shuffled = keypoints[:, np.random.default_rng(0).permutation(24)]
    assert steps.mean() < 0.4 * np.linalg.norm(keypoints - shuffled, axis=-1).mean()


def _motion_profile(keypoints: np.ndarray) -> dict[str, float]:
    """Per-sequence motion relative to the hips, in torso lengths, averaged over sequences."""
    hips = keypoints[:, :, 11:13].mean(axis=2, keepdims=True)  # (N, T, 1, 2)
    torso = np.linalg.norm(keypoints[:, :, 5:7].mean(axis=2) - hips[:, :, 0], axis=-1).mean(axis=1)  # (N,)
    local = (keypoints - hips) / torso[:, None, None, None]
    spread = local.std(axis=1)  # (N, 17, 2)
    return {
        "ankles": float(spread[:, 15:17].mean()),
        "wrist": float(spread[:, 9:11].max(axis=1).mean()),
        "hips_vertical": float((hips[:, :, 0, 1].std(axis=1) / torso).mean()),
    }


def test_actions_move_differently(trajectories: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
    keypoints, _, actions = trajectories
    walk, run, wave, jump = (_motion_profile(keypoints[actions == a]) for a in range(len(ACTIONS)))
    assert wave["ankles"] < 0.25 * walk["ankles"]
    assert wave["wrist"] > 2 * wave["ankles"]
    assert run["ankles"] > walk["ankles"]
    assert jump["hips_vertical"] > 2 * walk["hips_vertical"]


def test_frames_show_the_trajectory() -> None:
    sequence = motion_frames(3, 2, SHORT)
    np.testing.assert_array_equal(sequence.keypoints, motion_trajectory(3, 2, SHORT).keypoints)
    assert sequence.frames.shape == (24, 128, 128, 3)
    assert sequence.frames.dtype == np.uint8
    assert sequence.occluder_masks.shape == (24, 128, 128)
    assert not np.array_equal(sequence.frames[0], sequence.frames[-1])


def test_joints_occluded_at_the_end_were_visible_before() -> None:
    config = MotionConfig(num_frames=16, occlusion_prob=1.0)
    sequences_with_occlusion = 0
    for index in range(12):
        sequence = motion_frames(7, index, config)
        last = sequence.visibility[-1]
        body_hidden = np.flatnonzero(last[5:] == VISIBILITY_OCCLUDED) + 5
        sequences_with_occlusion += bool(len(body_hidden))
        for joint in body_hidden:
            assert (sequence.visibility[:-1, joint] == VISIBILITY_VISIBLE).any(), (index, joint)
        x, y = sequence.keypoints[-1, body_hidden].T.astype(int)
        assert sequence.occluder_masks[-1, y, x].all()
    assert sequences_with_occlusion >= 8
