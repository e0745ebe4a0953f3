from __future__ import annotations

import copy
import json
from typing import Any

import numpy as np
import pytest

from evaluation.coco import read_coco_ground_truth, read_coco_results
from evaluation.keypoints import COCO_KEYPOINT_NAMES, COCO_SKELETON
from evaluation.matching import match_detections, pck_from_coco
from tests.evaluation.poses import coco_pose

PERSON_A = coco_pose()
PERSON_B = coco_pose() + np.array([500.0, 0.0])
PERSON_C = coco_pose() + np.array([0.0, 300.0])


def _flat(pose: np.ndarray, v: int = 2) -> list[float]:
    return [value for x, y in pose.tolist() for value in (x, y, v)]


def _annotation(ann_id: int, image_id: int, pose: np.ndarray, **extra: Any) -> dict[str, Any]:
    base = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "keypoints": _flat(pose),
        "bbox": [0, 0, 80, 90],
    }
    return base | extra


def _dataset() -> dict[str, Any]:
    """Image 1: people A and B; image 2: person C; plus a crowd and an unlabelled annotation."""
    return {
        "images": [{"id": 1}, {"id": 2}, {"id": 3}],
        "categories": [
            {"id": 2, "name": "dog"},
            {
                "id": 1,
                "name": "person",
                "keypoints": list(COCO_KEYPOINT_NAMES),
                "skeleton": [[a + 1, b + 1] for a, b in COCO_SKELETON],
            },
        ],
        "annotations": [
            _annotation(10, 1, PERSON_A),
            _annotation(11, 1, PERSON_B, num_keypoints=17, iscrowd=0),
            _annotation(12, 2, PERSON_C),
            _annotation(13, 2, PERSON_C, iscrowd=1),
            _annotation(14, 1, PERSON_A, keypoints=[0] * 51, num_keypoints=0),
            {"id": 15, "image_id": 1, "category_id": 2, "bbox": [0, 0, 1, 1]},  # a dog: skipped
        ],
    }


def _result(image_id: int, pose: np.ndarray, score: float) -> dict[str, Any]:
    return {"image_id": image_id, "category_id": 1, "keypoints": _flat(pose, 1), "score": score}


def test_reads_annotations_into_arrays() -> None:
    gt = read_coco_ground_truth(json.loads(json.dumps(_dataset())))
    assert gt.keypoint_names == COCO_KEYPOINT_NAMES
    assert gt.skeleton == COCO_SKELETON
    assert gt.image_ids == frozenset({1, 2, 3})
    assert gt.annotation_ids.tolist() == [10, 11, 12, 13, 14]
    assert gt.keypoints.shape == (5, 17, 2)
    np.testing.assert_array_equal(gt.keypoints[1], PERSON_B)
    assert gt.visibility[4].tolist() == [0] * 17
    assert gt.iscrowd.tolist() == [False, False, False, True, False]
    assert gt.boxes[0].tolist() == [0.0, 0.0, 80.0, 90.0]


def test_two_people_in_one_image_and_a_missing_prediction() -> None:
    results = [
        _result(1, PERSON_A + 1.0, 0.6),
        _result(1, PERSON_B, 0.9),
        _result(1, PERSON_B + 3.0, 0.1),  # B is taken by then, A too: a leftover detection
    ]
    result = pck_from_coco(_dataset(), results)
    assert (result.matched, result.unmatched_ground_truth, result.unmatched_detections) == (2, 1, 1)
    assert (result.ground_truth_people, result.ignored_ground_truth, result.detections) == (3, 2, 3)
    assert result.pck.pck == pytest.approx((2 / 3, 2 / 3, 2 / 3))  # C: 17 labelled points, all wrong
    assert result.pck.samples_without_prediction == 1
    report = result.to_dict()
    assert report["matching"]["unmatched_ground_truth"] == 1
    json.dumps(report, allow_nan=False)


def test_higher_score_claims_its_nearest_person_first() -> None:
    gt = read_coco_ground_truth(_dataset())
    near_a = PERSON_A + np.array([100.0, 0.0])  # closer to A than to B, 500 px to the right
    dets = read_coco_results([_result(1, PERSON_A, 0.2), _result(1, near_a, 0.8)], gt)
    matched = match_detections(gt, dets)
    assert matched.annotation_ids.tolist() == [10, 11, 12]
    assert matched.has_prediction.tolist() == [True, True, False]
    np.testing.assert_array_equal(matched.predictions[0], near_a)
    np.testing.assert_array_equal(matched.predictions[1], PERSON_A)  # the low score got what was left: B
    assert matched.unmatched_detections == 0


def test_detection_on_an_image_without_people_is_unmatched() -> None:
    result = pck_from_coco(_dataset(), [_result(3, PERSON_A, 0.5)], normalizer="bbox")
    assert (result.matched, result.unmatched_detections) == (0, 1)
    assert result.pck.pck == (0.0, 0.0, 0.0)
    assert result.pck.normalizer == "bbox"


def _broken(path: list[Any], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(_dataset())
    target: Any = data
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_broken(["annotations"], KeyError), "annotation file is missing 'annotations'"),
        (
            _broken(["annotations", 0, "keypoints"], [0] * 50),
            r"annotations\[0\]\.keypoints has 50 values, expected 51",
        ),
        (_broken(["annotations", 1, "bbox"], KeyError), r"annotations\[1\] is missing 'bbox'"),
        (_broken(["annotations", 1, "bbox"], [0, 0, -1, 2]), r"annotations\[1\]\.bbox must have w, h >= 0"),
        (_broken(["annotations", 2, "image_id"], 99), r"annotations\[2\]\.image_id 99 is not in images"),
        (_broken(["annotations", 0, "keypoints", 2], 3), r"annotations\[0\]\.keypoints has visibility flags"),
        (_broken(["annotations", 0, "keypoints", 0], None), r"annotations\[0\]\.keypoints must be a numeric"),
        (_broken(["annotations", 0], "oops"), r"annotations\[0\] must be a JSON object"),
        (_broken(["categories", 1, "keypoints"], KeyError), "exactly one keypoint category"),
        (_broken(["categories", 1, "skeleton", 0], [0, 1]), r"skeleton\[0\] must be two 1-based joint"),
        (_broken(["images"], {}), "images must be a JSON list"),
        (_broken(["images", 0, "id"], 2**64), r"images\[0\]\.id must be an integer that fits 64 bits"),
        (_broken(["annotations", 0, "id"], -(2**63) - 1), r"annotations\[0\]\.id must be an integer that fits 64"),
    ],
)
def test_malformed_annotation_file_raises_value_error(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_coco_ground_truth(data)


@pytest.mark.parametrize(
    ("results", "message"),
    [
        ({"image_id": 1}, "results must be a JSON list"),
        ([{"image_id": 1, "category_id": 1, "keypoints": [0.0] * 51}], r"results\[0\] is missing 'score'"),
        ([{**_result(1, PERSON_A, 0.5), "keypoints": [0.0] * 34}], r"results\[0\]\.keypoints has 34 values"),
        ([_result(1, PERSON_A, 0.5), _result(7, PERSON_A, 0.5)], r"results\[1\]\.image_id 7 is not an image"),
        ([{**_result(1, PERSON_A, 0.5), "category_id": 2}], r"results\[0\]\.category_id is 2, expected 1"),
        (
            [{**_result(1, PERSON_A, 0.5), "score": "high"}],
            r"results\[0\]\.score must be a finite number, got 'high'",
        ),
        (
            [{**_result(1, PERSON_A, 0.5), "score": float("nan")}],
            r"results\[0\]\.score must be a finite number, got nan",
        ),
        (  # an integer literal past float's range, as JSON may carry one
            [{**_result(1, PERSON_A, 0.5), "score": 10**400}],
            r"results\[0\]\.score must be a finite number, got 1000000000\d*\.\.\. \(401 characters\)",
        ),
    ],
)
def test_malformed_results_raise_value_error(results: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pck_from_coco(_dataset(), results)
