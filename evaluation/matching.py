"""Pair COCO detections with ground-truth people and score PCK straight from COCO files.

Matching is greedy by score, as in COCO's own evaluation: within each image the highest-scoring detection
claims the unclaimed person with the smallest mean keypoint distance (over that person's labelled points,
in pixels), then the next detection, and so on. Mean distance needs no per-keypoint sigmas, so it works for
any keypoint set. Unmatched people stay in and count as all-wrong; leftover detections are only counted.
Crowd annotations and people without a labelled keypoint are ignored, as COCO's evaluation ignores them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluation.arrays import BoolArray, FloatArray, IntArray
from evaluation.coco import CocoDetections, CocoGroundTruth, read_coco_ground_truth, read_coco_results
from evaluation.normalizers import NormalizerName
from evaluation.pck import DEFAULT_THRESHOLDS, PCKResult, compute_pck


@dataclass(frozen=True, eq=False)
class MatchedKeypoints:
    """PCK inputs, one row per scored ground-truth person in annotation order."""

    predictions: FloatArray  # (N, K, 2); zeros where has_prediction is False
    ground_truth: FloatArray  # (N, K, 2)
    visibility: IntArray  # (N, K)
    boxes: FloatArray  # (N, 4) ground-truth [x, y, w, h]
    has_prediction: BoolArray  # (N,)
    annotation_ids: IntArray  # (N,)
    image_ids: IntArray  # (N,)
    ignored_ground_truth: int  # crowd or without labelled keypoints
    unmatched_detections: int


def _mean_distances(detections: FloatArray, people: FloatArray, labelled: BoolArray) -> FloatArray:
    """(D, K, 2) detections x (G, K, 2) people -> (D, G) mean distance over each person's labelled points."""
    distances = np.linalg.norm(detections[:, None] - people[None], axis=-1)  # (D, G, K)
    total = np.where(labelled[None], distances, 0.0).sum(axis=-1)
    return np.asarray(total / labelled.sum(axis=-1)[None], dtype=np.float64)


def match_detections(ground_truth: CocoGroundTruth, detections: CocoDetections) -> MatchedKeypoints:
    """Greedy score-ordered matching per image (see the module docstring)."""
    labelled = ground_truth.visibility > 0
    scored = np.flatnonzero(~ground_truth.iscrowd & labelled.any(axis=1))  # rows of ground_truth kept
    people_images = ground_truth.annotation_image_ids[scored]
    predictions = np.zeros((scored.size, *ground_truth.keypoints.shape[1:]), dtype=np.float64)
    has_prediction = np.zeros(scored.size, dtype=bool)
    unmatched = 0
    order = np.argsort(-detections.scores, kind="stable")  # ties keep file order
    for image_id in np.unique(detections.image_ids):
        dets = order[detections.image_ids[order] == image_id]
        people = np.flatnonzero(people_images == image_id)  # positions in `scored`
        cost = _mean_distances(
            detections.keypoints[dets], ground_truth.keypoints[scored[people]], labelled[scored[people]]
        )
        claimed = np.zeros(people.size, dtype=bool)
        for row in range(dets.size):
            if claimed.all():
                unmatched += dets.size - row
                break
            best = int(np.argmin(np.where(claimed, np.inf, cost[row])))
            claimed[best] = True
            predictions[people[best]] = detections.keypoints[dets[row]]
            has_prediction[people[best]] = True
    return MatchedKeypoints(
        predictions=predictions,
        ground_truth=ground_truth.keypoints[scored],
        visibility=ground_truth.visibility[scored],
        boxes=ground_truth.boxes[scored],
        has_prediction=has_prediction,
        annotation_ids=ground_truth.annotation_ids[scored],
        image_ids=people_images,
        ignored_ground_truth=len(ground_truth.annotation_ids) - scored.size,
        unmatched_detections=unmatched,
    )


@dataclass(frozen=True)
class CocoPCKResult:
    """PCK from COCO files, with the matching counts that explain it."""

    pck: PCKResult
    ground_truth_people: int  # scored people (crowd and unlabelled ones excluded)
    ignored_ground_truth: int
    detections: int
    matched: int
    unmatched_ground_truth: int  # scored all-wrong
    unmatched_detections: int  # false positives; PCK has no place for them

    def summary(self) -> dict[str, float | None]:
        return self.pck.summary()

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.pck.to_dict(),
            "matching": {
                "ground_truth_people": self.ground_truth_people,
                "ignored_ground_truth": self.ignored_ground_truth,
                "detections": self.detections,
                "matched": self.matched,
                "unmatched_ground_truth": self.unmatched_ground_truth,
                "unmatched_detections": self.unmatched_detections,
            },
        }


def pck_from_coco(
    annotations: Any,
    results: Any,
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    normalizer: NormalizerName = "torso",
) -> CocoPCKResult:
    """PCK of a COCO results list against a COCO keypoint annotation dict; "bbox" uses the GT boxes."""
    ground_truth = read_coco_ground_truth(annotations)
    detections = read_coco_results(results, ground_truth)
    matched = match_detections(ground_truth, detections)
    pck = compute_pck(
        matched.predictions,
        matched.ground_truth,
        matched.visibility,
        thresholds=thresholds,
        normalizer=normalizer,
        boxes=matched.boxes if normalizer == "bbox" else None,
        has_prediction=matched.has_prediction,
        joint_names=ground_truth.keypoint_names,
    )
    num_matched = int(matched.has_prediction.sum())
    return CocoPCKResult(
        pck=pck,
        ground_truth_people=len(matched.has_prediction),
        ignored_ground_truth=matched.ignored_ground_truth,
        detections=len(detections.scores),
        matched=num_matched,
        unmatched_ground_truth=len(matched.has_prediction) - num_matched,
        unmatched_detections=matched.unmatched_detections,
    )
