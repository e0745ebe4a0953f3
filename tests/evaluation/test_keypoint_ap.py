from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from evaluation.coco import read_coco_ground_truth, read_coco_results
from evaluation.keypoint_ap import (
    COCO_OKS_SIGMAS,
    KeypointAPResult,
    coco_keypoint_ap,
    compute_oks,
    image_oks,
)
from evaluation.keypoints import COCO_KEYPOINT_NAMES

K = len(COCO_KEYPOINT_NAMES)
CATEGORY = {"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINT_NAMES), "skeleton": []}


def _triplets(points: np.ndarray, flags: np.ndarray) -> list[float]:
    return [float(v) for x, y, f in zip(points[:, 0], points[:, 1], flags, strict=True) for v in (x, y, f)]


def _person(rng: np.random.Generator, image_id: int, ann_id: int) -> dict[str, Any]:
    """A person whose area spans small, medium and large (sometimes exactly on a range's bound)."""
    area = float(rng.choice([np.exp(rng.uniform(np.log(60), np.log(40000))), 32.0**2, 96.0**2], p=[0.9, 0.05, 0.05]))
    box_area, aspect = area / rng.uniform(0.6, 1.0), rng.uniform(0.5, 2.0)  # the segmentation covers part of the box
    w, h = math.sqrt(box_area * aspect), math.sqrt(box_area / aspect)
    x, y = rng.uniform(0, 400, 2)
    flags = rng.choice([0, 1, 2], K, p=[0.3, 0.2, 0.5]) * (rng.random() > 0.15)  # some with no labelled point
    points = np.array([x, y]) + rng.uniform(-0.2, 1.2, (K, 2)) * [w, h]
    points[flags == 0] = 0.0  # as COCO writes unlabelled points
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "keypoints": _triplets(points, flags),
        "num_keypoints": int((flags > 0).sum()),
        "bbox": [x, y, w, h],
        "area": area,
        "iscrowd": int(rng.random() < 0.1),
    }


def _result(image_id: int, points: np.ndarray, score: float) -> dict[str, Any]:
    return {"image_id": image_id, "category_id": 1, "keypoints": _triplets(points, np.ones(K)), "score": score}


def _guesses(rng: np.random.Generator, person: dict[str, Any]) -> list[np.ndarray]:
    """Zero to three noisy copies of a person, unlabelled points guessed anywhere in its box."""
    x, y, w, h = person["bbox"]
    truth = np.array(person["keypoints"]).reshape(K, 3)
    guessed = np.where(truth[:, 2:] > 0, truth[:, :2], [x, y] + rng.uniform(0, 1, (K, 2)) * [w, h])
    noise = rng.uniform(0.0, 0.12) * math.sqrt(person["area"])
    return [guessed + rng.normal(0, 1, (K, 2)) * noise for _ in range(rng.choice(4, p=[0.2, 0.5, 0.2, 0.1]))]


def random_coco(seed: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """5-10 images of 0-6 people, detections with tied scores, false positives and > 20 on the first image."""
    rng = np.random.default_rng(seed)
    image_ids = [int(i) for i in rng.permutation(np.arange(3, 40, 3))[: rng.integers(5, 11)]]
    annotations: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for n, image_id in enumerate(image_ids):
        people = [_person(rng, image_id, len(annotations) + i + 1) for i in range(6 if n == 0 else rng.integers(7))]
        annotations += people
        guesses = [guess for person in people for guess in _guesses(rng, person)]
        guesses += [rng.uniform(0, 500, 2) + rng.uniform(0, 150, (K, 2)) for _ in range(25 if n == 0 else 2)]
        results += [_result(image_id, g, float(rng.choice(np.linspace(0.1, 1.0, 10)))) for g in guesses]
    dataset = {"images": [{"id": i} for i in image_ids], "annotations": annotations, "categories": [CATEGORY]}
    return dataset, [results[i] for i in rng.permutation(len(results))]


def pycocotools_eval(tmp_path: Path, dataset: dict[str, Any], results: list[dict[str, Any]]) -> COCOeval:
    (tmp_path / "gt.json").write_text(json.dumps(dataset))
    (tmp_path / "dt.json").write_text(json.dumps(results))
    with contextlib.redirect_stdout(io.StringIO()):
        truth = COCO(str(tmp_path / "gt.json"))
        evaluation = COCOeval(truth, truth.loadRes(str(tmp_path / "dt.json")), "keypoints")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return evaluation


def _ours(dataset: dict[str, Any], results: list[dict[str, Any]]) -> KeypointAPResult:
    truth = read_coco_ground_truth(dataset)
    return coco_keypoint_ap(truth, read_coco_results(results, truth))


def _assert_same_as_pycocotools(tmp_path: Path, dataset: dict[str, Any], results: list[dict[str, Any]]) -> None:
    reference = pycocotools_eval(tmp_path, dataset, results)
    np.testing.assert_allclose(_ours(dataset, results).stats, reference.stats, rtol=0, atol=1e-6)
    truth = read_coco_ground_truth(dataset)
    detections = read_coco_results(results, truth)
    for (image_id, _), expected in reference.ious.items():
        if len(expected):
            np.testing.assert_allclose(image_oks(truth, detections, image_id), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_matches_pycocotools_on_random_data(tmp_path: Path, seed: int) -> None:
    _assert_same_as_pycocotools(tmp_path, *random_coco(seed))


def test_matches_pycocotools_when_images_have_no_detections(tmp_path: Path) -> None:
    dataset, results = random_coco(11)
    silent = {dataset["images"][1]["id"], dataset["images"][2]["id"]}  # absent from the results list
    results = [r for r in results if r["image_id"] not in silent]
    dataset["images"].append({"id": 1000})  # no people and no detections
    _assert_same_as_pycocotools(tmp_path, dataset, results)


def test_random_data_exercises_every_case() -> None:
    """The generator covers what the comparison is meant to pin: crowds, unlabelled people, -1 and > 20."""
    dataset, results = random_coco(0)
    people = dataset["annotations"]
    assert any(p["iscrowd"] for p in people)
    assert any(p["num_keypoints"] == 0 for p in people)
    assert max(np.unique([r["image_id"] for r in results], return_counts=True)[1]) > 20
    assert len({r["score"] for r in results}) < len(results)  # ties
    assert _ours(*random_coco(3)).ap > 0.1  # people are found: the numbers are not trivially 0


def _one_person_dataset(person: dict[str, Any]) -> dict[str, Any]:
    return {"images": [{"id": 1}], "annotations": [person], "categories": [CATEGORY]}


# A 50 x 50 px person, every point labelled.
POINTS = np.stack([np.linspace(0, 50, K), np.linspace(0, 50, K) ** 2 / 50], axis=1)


def _fixed_person(ann_id: int, shift: float, **extra: Any) -> dict[str, Any]:
    person = {
        "id": ann_id,
        "image_id": 1,
        "category_id": 1,
        "keypoints": _triplets(POINTS + shift, np.full(K, 2)),
        "num_keypoints": K,
        "bbox": [shift, shift, 50, 50],
        "area": 50.0**2,
        "iscrowd": 0,
    }
    return person | extra


def test_crowd_absorbs_detections_and_empty_ranges_give_minus_one(tmp_path: Path) -> None:
    dataset = _one_person_dataset(_fixed_person(1, 0.0))
    dataset["annotations"].append(_fixed_person(2, 300.0, iscrowd=1))
    on_crowd = [_result(1, POINTS + 300 + nudge, score) for nudge, score in [(0.0, 0.9), (0.2, 0.8), (0.4, 0.7)]]
    results = [_result(1, POINTS, 0.5), *on_crowd]
    ours = _ours(dataset, results)
    assert ours.stats == pytest.approx((1.0, 1.0, 1.0, 1.0, -1.0, 1.0, 1.0, 1.0, 1.0, -1.0))  # no large person
    assert (ours.images, ours.ground_truth_people, ours.detections) == (1, 1, 4)
    _assert_same_as_pycocotools(tmp_path, dataset, results)


@pytest.mark.parametrize(("side", "ap_medium"), [(10.0, 1.0), (50.0, 0.5), (200.0, 1.0)])
def test_unmatched_detection_outside_the_area_range_is_ignored(tmp_path: Path, side: float, ap_medium: float) -> None:
    """A false positive scored above the one true positive halves AP, unless its keypoints' extent (10², 50² or
    200² px) is outside the range: then only "all" counts it."""
    dataset = _one_person_dataset(_fixed_person(1, 0.0))
    results = [_result(1, POINTS, 0.5), _result(1, 1000 + POINTS * side / 50, 0.9)]
    ours = _ours(dataset, results)
    assert (ours.ap, ours.ap_medium, ours.ap_large) == pytest.approx((0.5, ap_medium, -1.0))
    _assert_same_as_pycocotools(tmp_path, dataset, results)


def test_no_detections_at_all_score_zero() -> None:
    """pycocotools cannot load an empty results list; every person is missed, so AP and AR are 0."""
    dataset, _ = random_coco(1)
    result = _ours(dataset, [])
    assert result.ap == result.ar == 0.0
    assert result.detections == 0


def test_to_dict_is_plain_json() -> None:
    report = _ours(*random_coco(2)).to_dict()
    assert list(report)[:10] == ["AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl"]
    assert all(type(report[key]) is float for key in list(report)[:10])
    assert all(type(report[key]) is int for key in ("images", "ground_truth_people", "detections"))
    assert json.loads(json.dumps(report, allow_nan=False)) == report


def _one(values: list[float]) -> np.ndarray:
    return np.array([values], dtype=np.float64)


def test_oks_formula_by_hand() -> None:
    """Offsets of 2 px at σ = .1 and 4 px at σ = .2 on area 100 both give e = d²/(2·s·(2σ)²) = 0.5."""
    person = np.array([[[10.0, 10.0], [20.0, 20.0], [30.0, 30.0]]])
    visibility = np.array([[2, 1, 0]], dtype=np.int64)
    boxes, areas = _one([0, 0, 40, 40]), np.array([100.0])
    offset = person + np.array([[0.0, 2.0], [4.0, 0.0], [99.0, 99.0]])  # the unlabelled third point is not scored
    sigmas = (0.1, 0.2, 0.3)
    assert compute_oks(person, person, visibility, boxes, areas, sigmas=sigmas)[0, 0] == pytest.approx(1.0, abs=1e-12)
    assert compute_oks(offset, person, visibility, boxes, areas, sigmas=sigmas)[0, 0] == pytest.approx(math.exp(-0.5))


def test_person_without_labelled_points_is_measured_against_its_grown_box() -> None:
    """Box [10, 20, 10, 5] grows to x in [0, 30], y in [15, 30]; points inside score 1, one 3 px outside less."""
    person, visibility = np.zeros((1, 2, 2)), np.zeros((1, 2), dtype=np.int64)
    boxes, areas = _one([10, 20, 10, 5]), np.array([50.0])
    inside = np.array([[[0.0, 15.0], [30.0, 30.0]]])
    outside = np.array([[[0.0, 15.0], [33.0, 30.0]]])
    e = 9 / (2 * 0.2) ** 2 / 50 / 2
    assert compute_oks(inside, person, visibility, boxes, areas, sigmas=(0.1, 0.2))[0, 0] == 1.0
    oks = compute_oks(outside, person, visibility, boxes, areas, sigmas=(0.1, 0.2))
    assert oks[0, 0] == pytest.approx((1 + math.exp(-e)) / 2)


def test_detections_are_ordered_by_score_and_cut_to_twenty() -> None:
    rng = np.random.default_rng(7)
    dataset = _one_person_dataset(_person(rng, 1, 1) | {"iscrowd": 0})
    truth = read_coco_ground_truth(dataset)
    near = truth.keypoints[0] + rng.normal(0, 1, (25, K, 2))
    scores = [0.5] * 12 + [0.9] * 13
    detections = read_coco_results([_result(1, p, s) for p, s in zip(near, scores, strict=True)], truth)
    best_twenty = near[[*range(12, 25), *range(7)]]  # the 0.9s, then the first seven 0.5s in file order
    expected = compute_oks(best_twenty, truth.keypoints, truth.visibility, truth.boxes, truth.areas)
    np.testing.assert_array_equal(image_oks(truth, detections, 1), expected)


def test_sigmas_must_have_one_value_per_keypoint() -> None:
    people = np.zeros((1, 3, 2))
    args = (people, people, np.full((1, 3), 2, dtype=np.int64), _one([0, 0, 1, 1]), np.array([1.0]))
    with pytest.raises(ValueError, match="the COCO-17 default sigmas have 17 values for 3 keypoints"):
        compute_oks(*args)
    with pytest.raises(ValueError, match="sigmas has 2 values for 3 keypoints"):
        compute_oks(*args, sigmas=(0.1, 0.2))
    with pytest.raises(ValueError, match="sigmas must be > 0"):
        compute_oks(*args, sigmas=(0.1, 0.0, 0.2))
    truth = read_coco_ground_truth(random_coco(0)[0])
    with pytest.raises(ValueError, match="sigmas has 16 values for 17 keypoints"):
        coco_keypoint_ap(truth, read_coco_results([], truth), sigmas=COCO_OKS_SIGMAS[:16])


def test_area_is_read_and_falls_back_to_the_box() -> None:
    rng = np.random.default_rng(3)
    with_area = _person(rng, 1, 1) | {"area": 123.5}
    without = {key: value for key, value in _person(rng, 1, 2).items() if key != "area"}
    truth = read_coco_ground_truth(_one_person_dataset(with_area) | {"annotations": [with_area, without]})
    assert truth.areas.tolist() == [123.5, without["bbox"][2] * without["bbox"][3]]


@pytest.mark.parametrize(
    ("area", "message"),
    [
        ("big", r"annotations\[0\]\.area must be a finite number, got 'big'"),
        (float("inf"), r"annotations\[0\]\.area must be a finite number"),
        (-1.0, r"annotations\[0\]\.area must be in \[0, 1e\+14\] square pixels, got -1\.0"),
        (1e15, r"annotations\[0\]\.area must be in \[0, 1e\+14\]"),
    ],
)
def test_bad_area_raises_value_error(area: Any, message: str) -> None:
    person = _person(np.random.default_rng(0), 1, 1) | {"area": area}
    with pytest.raises(ValueError, match=message):
        read_coco_ground_truth(_one_person_dataset(person))
