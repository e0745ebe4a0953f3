from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from evaluation.keypoints import COCO_KEYPOINT_NAMES
from evaluation.pck import compute_pck
from tests.evaluation.poses import coco_pose, labelled


def test_point_exactly_on_the_boundary_is_correct() -> None:
    truth = coco_pose()[None]
    pred = truth.copy()
    pred[0, 0] += (3.0, 4.0)  # 5 px = 0.05 x the 100 px torso: on the boundary
    pred[0, 1] += (3.0, 4.001)  # just outside
    result = compute_pck(pred, truth, labelled())
    assert result.normalizer == "torso"
    assert result.per_joint[0] == (1.0, 1.0, 1.0)
    assert result.per_joint[1] == (0.0, 1.0, 1.0)
    assert result.at(0.05) == pytest.approx(16 / 17)
    assert result.at(0.2) == 1.0
    assert result.points_evaluated == 17
    assert result.normalizer_fallbacks == 0


@pytest.mark.parametrize("unlabelled_end", [5, 12])
def test_torso_falls_back_to_the_other_diagonal(unlabelled_end: int) -> None:
    truth = coco_pose()[None]
    pred = truth.copy()
    pred[0, 0] += (6.0, 8.0)  # 10 px: 0.1 of the primary torso, 0.2 of the 50 px fallback
    vis = labelled()
    vis[0, unlabelled_end] = 0
    result = compute_pck(pred, truth, vis, thresholds=(0.1, 0.2))
    assert result.per_joint[0] == (0.0, 1.0)
    assert result.normalizer_fallbacks == 1
    assert result.points_evaluated == 16
    assert result.per_joint[unlabelled_end] == (None, None)


def test_sample_excluded_when_no_torso_pair_is_labelled() -> None:
    truth = np.stack([coco_pose()] * 3)
    pred = truth + 1.0
    vis = labelled(3)
    vis[0, [5, 6]] = (0, 1)  # primary broken, fallback (6, 11) labelled (occluded counts)
    vis[1, [5, 11]] = 0  # both pairs broken
    vis[2] = 0  # nothing labelled
    result = compute_pck(pred, truth, vis)
    assert result.samples_total == 3
    assert result.samples_used == 1
    assert result.excluded == {"torso_not_labelled": 1, "no_labelled_keypoints": 1}
    assert result.excluded_indices == (1, 2)
    assert result.points_evaluated == 16
    assert result.to_dict()["samples_excluded"] == 2


def test_zero_length_torso_is_excluded_not_fallen_back() -> None:
    truth = coco_pose()[None]
    truth[0, 12] = truth[0, 5]
    result = compute_pck(truth, truth, labelled())
    assert result.excluded == {"normalizer_zero": 1}
    assert result.pck == (None, None, None)


def test_unlabelled_points_are_ignored_even_when_wrong_or_nan() -> None:
    truth = coco_pose()[None]
    pred = truth.copy()
    pred[0, 9] += 1000.0
    truth[0, 10] = np.nan
    vis = labelled()
    vis[0, [9, 10]] = 0
    result = compute_pck(pred, truth, vis)
    assert result.pck == (1.0, 1.0, 1.0)
    assert result.points_evaluated == 15
    assert result.points_per_joint[9] == 0


def test_joint_never_labelled_is_none_and_json_safe() -> None:
    truth = np.stack([coco_pose()] * 2)
    vis = labelled(2)
    vis[:, 0] = 0
    report = compute_pck(truth, truth, vis).to_dict()
    assert report["per_joint"]["nose"] == {"0.05": None, "0.1": None, "0.2": None}
    assert report["per_joint"]["left_eye"] == {"0.05": 1.0, "0.1": 1.0, "0.2": 1.0}
    assert report["points_per_joint"]["nose"] == 0
    assert report["mean_over_joints"] == {"0.05": 1.0, "0.1": 1.0, "0.2": 1.0}
    json.dumps(report, allow_nan=False)


def test_overall_weighs_points_and_mean_over_joints_weighs_joints() -> None:
    truth = np.zeros((2, 17, 2))
    pred = truth.copy()
    pred[1, 0] = (5.0, 0.0)
    vis = np.zeros((2, 17), dtype=np.int64)
    vis[0] = 2  # 17 correct points
    vis[1, 0] = 1  # one wrong point on joint 0
    result = compute_pck(pred, truth, vis, thresholds=(0.5,), normalizer=np.ones(2))
    assert result.normalizer == "explicit"
    assert result.pck == (pytest.approx(17 / 18),)
    assert result.per_joint[0] == (0.5,)
    assert result.mean_over_joints == (pytest.approx((16 + 0.5) / 17),)


def test_bbox_normalizer_uses_max_side_of_given_boxes() -> None:
    truth = np.zeros((2, 3, 2))
    pred = truth + np.array([4.0, 0.0])
    boxes = [[5.0, 5.0, 40.0, 20.0], [0.0, 0.0, 10.0, 80.0]]  # sizes 40 and 80
    result = compute_pck(pred, truth, np.full((2, 3), 2), thresholds=(0.05, 0.1), normalizer="bbox", boxes=boxes)
    assert result.pck == (0.5, 1.0)
    assert result.joint_names == ("joint_0", "joint_1", "joint_2")


def test_bbox_normalizer_without_boxes_uses_labelled_keypoint_extent() -> None:
    truth = np.array([[[0.0, 0.0], [10.0, 0.0], [0.0, 30.0], [500.0, 500.0]]] * 2)
    vis = np.array([[2, 2, 2, 0], [2, 0, 0, 0]])  # sample 1: a single point, zero extent
    pred = truth + np.array([3.0, 0.0])  # 3 px = 0.1 of max(10, 30); joint 3 unlabelled
    result = compute_pck(pred, truth, vis, thresholds=(0.05, 0.1), normalizer="bbox")
    assert result.pck == (0.0, 1.0)
    assert result.excluded == {"normalizer_zero": 1}


def test_explicit_normalizer_excludes_nan_and_zero_sizes() -> None:
    truth = np.zeros((4, 2, 2))
    pred = truth + np.array([0.0, 2.0])
    result = compute_pck(pred, truth, np.ones((4, 2)), thresholds=(0.1,), normalizer=[20.0, 10.0, np.nan, 0.0])
    assert result.pck == (0.5,)
    assert result.excluded == {"normalizer_not_finite": 1, "normalizer_zero": 1}
    assert result.excluded_indices == (2, 3)


def test_head_normalizer_given_sizes_and_derived_from_ears() -> None:
    truth = np.stack([coco_pose()] * 2)
    pred = truth + np.array([2.0, 0.0])
    given = compute_pck(pred, truth, labelled(2), thresholds=(0.1,), normalizer="head", head_sizes=[20.0, 10.0])
    assert given.pck == (0.5,)
    vis = labelled(2)
    vis[1, 4] = 0
    derived = compute_pck(pred, truth, vis, thresholds=(0.1,), normalizer="head")  # ears 20 px apart
    assert derived.pck == (1.0,)
    assert derived.excluded == {"head_not_labelled": 1}


def test_missing_prediction_counts_all_wrong() -> None:
    truth = np.stack([coco_pose()] * 2)
    pred = truth.copy()
    pred[1] = np.nan  # ignored: no prediction for this sample
    result = compute_pck(pred, truth, labelled(2), has_prediction=np.array([True, False]))
    assert result.pck == (0.5, 0.5, 0.5)
    assert result.samples_without_prediction == 1
    assert result.samples_used == 2


def test_matches_a_plain_loop_on_random_data() -> None:
    rng = np.random.default_rng(7)
    truth = rng.uniform(0, 200, size=(30, 17, 2))
    pred = truth + rng.normal(0, 8, size=truth.shape)
    vis = rng.integers(0, 3, size=(30, 17))
    result = compute_pck(pred, truth, vis)
    correct = np.zeros(3)
    points = 0
    for n in range(30):
        if vis[n, 5] and vis[n, 12]:
            torso = np.linalg.norm(truth[n, 5] - truth[n, 12])
        elif vis[n, 6] and vis[n, 11]:
            torso = np.linalg.norm(truth[n, 6] - truth[n, 11])
        else:
            continue
        for k in range(17):
            if vis[n, k]:
                points += 1
                correct += np.linalg.norm(pred[n, k] - truth[n, k]) / torso <= np.array([0.05, 0.1, 0.2])
    assert result.points_evaluated == points
    assert result.pck == pytest.approx(tuple(correct / points))
    assert 0 < result.samples_used < 30


def test_to_dict_keys_follow_joint_names() -> None:
    truth = coco_pose()[None]
    report = compute_pck(truth, truth, labelled()).to_dict()
    assert list(report["per_joint"]) == list(COCO_KEYPOINT_NAMES)
    assert report["pck"] == {"0.05": 1.0, "0.1": 1.0, "0.2": 1.0}
    assert compute_pck(truth, truth, labelled()).summary() == {
        "PCK@0.05": 1.0,
        "PCK@0.1": 1.0,
        "PCK@0.2": 1.0,
    }


def _bad_kwargs() -> list[tuple[dict[str, Any], str]]:
    pose = coco_pose()[None]
    nan_pred, inf_truth = pose.copy(), pose.copy()
    nan_pred[0, 3, 1] = np.nan
    inf_truth[0, 7, 0] = np.inf
    return [
        (
            {"predictions": np.zeros((1, 16, 2))},
            r"ground_truth must have shape .* = \(1, 16, 2\), got \(1, 17, 2\)",
        ),
        ({"predictions": np.zeros((1, 17, 3))}, r"predictions must have shape \(N, K, 2\)"),
        ({"predictions": np.zeros((17, 2))}, r"predictions must have shape \(N, K, 2\), got shape \(17, 2\)"),
        ({"predictions": [[["a", "b"]]]}, "predictions must be a numeric array"),
        ({"predictions": nan_pred}, r"predictions contains NaN or inf at index \(0, 3, 1\)"),
        ({"ground_truth": inf_truth}, r"ground_truth contains NaN or inf at index \(0, 7, 0\)"),
        ({"visibility": np.full((1, 17), 3)}, "visibility must hold COCO flags 0, 1 or 2"),
        ({"visibility": np.full((1, 16), 2)}, r"visibility must have shape"),
        ({"thresholds": (0.1, -0.2)}, "thresholds must be finite and >= 0, got -0.2"),
        ({"thresholds": ()}, "thresholds must not be empty"),
        ({"thresholds": (0.1, 0.1)}, "thresholds must be distinct"),
        ({"normalizer": "wrist"}, "normalizer must be one of"),
        ({"normalizer": [-1.0]}, "normalizer must be >= 0 and finite"),
        ({"normalizer": [np.inf]}, "normalizer must be >= 0 and finite"),
        ({"normalizer": [1.0, 2.0]}, r"normalizer must have shape \(N,\) = \(1,\)"),
        ({"normalizer": "bbox", "boxes": [[0.0, 0.0, -1.0, 2.0]]}, "boxes must have w, h >= 0"),
        ({"joint_names": ["a"]}, "joint_names has 1 names for 17 joints"),
        ({"has_prediction": [1]}, "has_prediction must be a boolean array"),
    ]


@pytest.mark.parametrize(("overrides", "message"), _bad_kwargs())
def test_malformed_inputs_raise_value_error(overrides: dict[str, Any], message: str) -> None:
    pose = coco_pose()[None]
    kwargs: dict[str, Any] = {"predictions": pose, "ground_truth": pose, "visibility": labelled()}
    kwargs.update(overrides)
    with pytest.raises(ValueError, match=message):
        compute_pck(**kwargs)


def test_torso_needs_coco_keypoints() -> None:
    with pytest.raises(ValueError, match="'torso' normalizer needs COCO-17 keypoints, got 5 joints"):
        compute_pck(np.zeros((1, 5, 2)), np.zeros((1, 5, 2)), np.ones((1, 5)))


def test_score_only_scores_a_subset_but_sizes_by_every_labelled_point() -> None:
    """An occluded wrist is scored with the torso of its visible shoulders and hips."""
    rng = np.random.default_rng(3)
    truth = rng.uniform(10, 90, size=(1, 17, 2))
    visibility = np.full((1, 17), 2)
    visibility[0, 9] = 1  # left wrist labelled but occluded
    prediction = truth.copy()
    prediction[0, 0] += 100  # a wrong nose must not count: it is not in the subset
    result = compute_pck(prediction, truth, visibility, score_only=visibility == 1)
    assert result.points_evaluated == 1
    assert result.samples_used == 1
    assert result.pck == (1.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="score_only must be a boolean array"):
        compute_pck(prediction, truth, visibility, score_only=visibility)
