"""Percentage of Correct Keypoints (PCK@a): the pose metric of the CLI reports and the service's endpoint.

A labelled keypoint (COCO v > 0) is correct when ||prediction - ground truth|| / normalizer <= a: the
boundary is inclusive, and the ratio is compared rather than a × normalizer, so a point at exactly
a × normalizer counts. `pck` averages over all labelled points of the usable samples (every point weighs
the same); `mean_over_joints` averages the per-joint figures over the joints with at least one labelled
point (every joint weighs the same).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from evaluation.arrays import (
    as_float_array,
    as_visibility,
    require_finite,
    require_shape,
)
from evaluation.keypoints import COCO_KEYPOINT_NAMES
from evaluation.normalizers import NormalizerName, resolve_normalizers

DEFAULT_THRESHOLDS: tuple[float, ...] = (0.05, 0.1, 0.2)


def threshold_key(threshold: float) -> str:
    """The JSON key and column suffix of a threshold: 0.05 -> "0.05"."""
    return f"{threshold:g}"


def _ratios(numerators: npt.NDArray[np.int64], denominators: npt.NDArray[np.int64]) -> list[float | None]:
    return [float(n) / float(d) if d else None for n, d in zip(numerators, denominators, strict=True)]


@dataclass(frozen=True)
class PCKResult:
    """PCK per threshold, overall and per joint, with the bookkeeping that says what was scored."""

    thresholds: tuple[float, ...]
    normalizer: str  # "torso", "bbox", "head" or "explicit"
    joint_names: tuple[str, ...]
    pck: tuple[float | None, ...]  # per threshold, over all labelled points; None when no point was evaluated
    mean_over_joints: tuple[float | None, ...]  # per threshold, mean of the per-joint figures
    per_joint: tuple[tuple[float | None, ...], ...]  # (K, thresholds); None for a joint never labelled
    points_per_joint: tuple[int, ...]  # labelled points scored per joint
    points_evaluated: int
    samples_total: int
    samples_used: int
    samples_without_prediction: int  # used samples scored all-wrong (e.g. unmatched COCO ground truth)
    excluded: dict[str, int]  # exclusion reason -> number of samples
    excluded_indices: tuple[int, ...]
    normalizer_fallbacks: int  # used samples whose torso came from the fallback pair

    def at(self, threshold: float) -> float | None:
        """Overall PCK at one of the evaluated thresholds."""
        for value, pck in zip(self.thresholds, self.pck, strict=True):
            if math.isclose(value, threshold):
                return pck
        raise KeyError(f"threshold {threshold} was not evaluated; evaluated: {list(self.thresholds)}")

    def summary(self) -> dict[str, float | None]:
        """One table row: {"PCK@0.05": ..., ...}."""
        return {f"PCK@{threshold_key(t)}": value for t, value in zip(self.thresholds, self.pck, strict=True)}

    def to_dict(self) -> dict[str, Any]:
        keys = [threshold_key(t) for t in self.thresholds]
        return {
            "thresholds": list(self.thresholds),
            "normalizer": self.normalizer,
            "pck": dict(zip(keys, self.pck, strict=True)),
            "mean_over_joints": dict(zip(keys, self.mean_over_joints, strict=True)),
            "per_joint": {
                name: dict(zip(keys, values, strict=True))
                for name, values in zip(self.joint_names, self.per_joint, strict=True)
            },
            "points_per_joint": dict(zip(self.joint_names, self.points_per_joint, strict=True)),
            "points_evaluated": self.points_evaluated,
            "samples_total": self.samples_total,
            "samples_used": self.samples_used,
            "samples_excluded": len(self.excluded_indices),
            "samples_without_prediction": self.samples_without_prediction,
            "excluded": dict(self.excluded),
            "excluded_indices": list(self.excluded_indices),
            "normalizer_fallbacks": self.normalizer_fallbacks,
        }


def _check_thresholds(thresholds: Sequence[float]) -> tuple[float, ...]:
    values = tuple(float(t) for t in thresholds)
    if not values:
        raise ValueError("thresholds must not be empty")
    for value in values:
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"thresholds must be finite and >= 0, got {value}")
    keys = [threshold_key(v) for v in values]
    if len(set(keys)) != len(keys):
        raise ValueError(f"thresholds must be distinct, got {list(values)}")
    return values


def _joint_names(joint_names: Sequence[str] | None, num_joints: int) -> tuple[str, ...]:
    if joint_names is None:
        if num_joints == len(COCO_KEYPOINT_NAMES):
            return COCO_KEYPOINT_NAMES
        return tuple(f"joint_{k}" for k in range(num_joints))
    if len(joint_names) != num_joints:
        raise ValueError(f"joint_names has {len(joint_names)} names for {num_joints} joints")
    return tuple(joint_names)


def compute_pck(
    predictions: npt.ArrayLike,
    ground_truth: npt.ArrayLike,
    visibility: npt.ArrayLike,
    *,
    thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    normalizer: NormalizerName | npt.ArrayLike = "torso",
    boxes: npt.ArrayLike | None = None,
    head_sizes: npt.ArrayLike | None = None,
    has_prediction: npt.ArrayLike | None = None,
    score_only: npt.ArrayLike | None = None,
    joint_names: Sequence[str] | None = None,
) -> PCKResult:
    """PCK of predictions (N, K, 2) against ground truth (N, K, 2) with COCO visibility (N, K), in pixels.

    `normalizer` is "torso", "bbox" (optional `boxes` (N, 4)), "head" (optional `head_sizes` (N,)) or
    per-sample sizes (N,); see `evaluation.normalizers.resolve_normalizers`. `has_prediction` (N,) bool marks
    samples without a prediction: their labelled points count as wrong, their prediction values are ignored.
    `score_only` (N, K) bool restricts which labelled points are scored (e.g. only occluded ones, v == 1) while
    the normalizers still come from every labelled point, so a visible torso still sizes an occluded wrist.
    Ground truth may hold NaN at unlabelled points; every other NaN or inf raises ValueError.
    """
    levels = _check_thresholds(thresholds)
    pred = as_float_array("predictions", predictions, "(N, K, 2)", ndim=3)
    truth = as_float_array("ground_truth", ground_truth, "(N, K, 2)", ndim=3)
    if pred.shape[2] != 2 or pred.shape[1] == 0:
        raise ValueError(f"predictions must have shape (N, K, 2) with K >= 1, got {pred.shape}")
    require_shape("ground_truth", truth, pred.shape, "(N, K, 2) like predictions")
    num_samples, num_joints = pred.shape[:2]
    labelled = as_visibility("visibility", visibility, (num_samples, num_joints)) > 0
    present = np.ones(num_samples, dtype=bool)
    if has_prediction is not None:
        present = np.asarray(has_prediction)
        if present.dtype != np.bool_:
            raise ValueError(f"has_prediction must be a boolean array (N,), got dtype {present.dtype}")
        require_shape("has_prediction", present, (num_samples,), "(N,)")
    require_finite("predictions", pred, np.broadcast_to(present[:, None, None], pred.shape))
    require_finite("ground_truth", truth, np.broadcast_to(labelled[..., None], truth.shape))
    names = _joint_names(joint_names, num_joints)

    # Unlabelled ground truth may be NaN; give it a harmless value before any arithmetic.
    truth = np.where(labelled[..., None], truth, 0.0)
    norms = resolve_normalizers(normalizer, truth, labelled, boxes=boxes, head_sizes=head_sizes)
    usable = np.array([reason is None for reason in norms.reasons], dtype=bool)
    scored = labelled & usable[:, None]  # (N, K)
    if score_only is not None:
        subset = np.asarray(score_only)
        if subset.dtype != np.bool_:
            raise ValueError(f"score_only must be a boolean array (N, K), got dtype {subset.dtype}")
        require_shape("score_only", subset, (num_samples, num_joints), "(N, K)")
        scored &= subset
    offsets = np.where(present[:, None, None], pred - truth, np.inf)  # a missing prediction is never correct
    ratios = np.linalg.norm(offsets, axis=-1) / norms.sizes[:, None]  # (N, K)
    correct = (ratios[None] <= np.asarray(levels)[:, None, None]) & scored[None]  # (thresholds, N, K)

    points_per_joint = scored.sum(axis=0)  # (K,)
    correct_per_joint = correct.sum(axis=1)  # (thresholds, K)
    per_joint = [_ratios(row, points_per_joint) for row in correct_per_joint]  # (thresholds, K)
    mean_over_joints = [
        float(np.mean([v for v in row if v is not None])) if points_per_joint.any() else None for row in per_joint
    ]
    excluded_reasons = [reason for reason in norms.reasons if reason is not None]
    return PCKResult(
        thresholds=levels,
        normalizer=norms.kind,
        joint_names=names,
        pck=tuple(_ratios(correct.sum(axis=(1, 2)), np.full(len(levels), scored.sum()))),
        mean_over_joints=tuple(mean_over_joints),
        per_joint=tuple(zip(*per_joint, strict=True)),
        points_per_joint=tuple(int(n) for n in points_per_joint),
        points_evaluated=int(scored.sum()),
        samples_total=num_samples,
        samples_used=int(usable.sum()),
        samples_without_prediction=int((usable & ~present).sum()),
        excluded={str(reason): count for reason, count in Counter(excluded_reasons).items()},
        excluded_indices=tuple(int(i) for i in np.flatnonzero(~usable)),
        normalizer_fallbacks=norms.fallbacks,
    )
