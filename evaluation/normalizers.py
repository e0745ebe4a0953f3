"""Per-sample PCK normalizers (torso, box, head or given sizes), with the reason a sample cannot be scored.

All sizes are measured on the ground truth, never on the prediction, so a model cannot move its own yardstick.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import numpy as np
import numpy.typing as npt

from evaluation.arrays import (
    BoolArray,
    FloatArray,
    as_float_array,
    as_nonnegative_sizes,
    require_finite,
    require_shape,
)
from evaluation.keypoints import HEAD_PAIR, NUM_COCO_KEYPOINTS, TORSO_FALLBACK, TORSO_PRIMARY

NormalizerName = Literal["torso", "bbox", "head"]
NORMALIZER_NAMES: tuple[NormalizerName, ...] = ("torso", "bbox", "head")


class ExclusionReason(StrEnum):
    """Why a sample contributes no points to PCK; the values are the keys of the JSON report."""

    NO_LABELLED_KEYPOINTS = "no_labelled_keypoints"
    TORSO_NOT_LABELLED = "torso_not_labelled"
    HEAD_NOT_LABELLED = "head_not_labelled"
    NORMALIZER_NOT_FINITE = "normalizer_not_finite"
    NORMALIZER_ZERO = "normalizer_zero"


@dataclass(frozen=True, eq=False)
class Normalizers:
    """Sizes for one batch: `sizes` is 1.0 where `reasons` holds a reason, so dividing by it never warns."""

    kind: str  # "torso", "bbox", "head" or "explicit"
    sizes: FloatArray  # (N,)
    reasons: tuple[ExclusionReason | None, ...]  # (N,), None when the sample is usable
    fallbacks: int  # samples whose torso came from the fallback pair


def _pair_sizes(ground_truth: FloatArray, labelled: BoolArray, pair: tuple[int, int]) -> tuple[FloatArray, BoolArray]:
    """Distance between two ground-truth joints per sample, and whether both end points are labelled."""
    a, b = pair
    sizes = np.linalg.norm(ground_truth[:, a] - ground_truth[:, b], axis=-1)
    return sizes, labelled[:, a] & labelled[:, b]


def _require_coco(kind: str, num_joints: int) -> None:
    if num_joints != NUM_COCO_KEYPOINTS:
        raise ValueError(
            f"the {kind!r} normalizer needs COCO-17 keypoints, got {num_joints} joints; "
            "pass per-sample normalizer values instead"
        )


def _torso(ground_truth: FloatArray, labelled: BoolArray) -> tuple[FloatArray, BoolArray, BoolArray]:
    """Torso sizes, whether either pair was labelled, and which samples used the fallback pair."""
    _require_coco("torso", labelled.shape[1])
    primary, primary_ok = _pair_sizes(ground_truth, labelled, TORSO_PRIMARY)
    fallback, fallback_ok = _pair_sizes(ground_truth, labelled, TORSO_FALLBACK)
    return np.where(primary_ok, primary, fallback), primary_ok | fallback_ok, ~primary_ok & fallback_ok


def _keypoint_extent(ground_truth: FloatArray, labelled: BoolArray) -> FloatArray:
    """max(width, height) of the box around each sample's labelled ground-truth points (0 with none)."""
    mask = labelled[..., None]
    any_labelled = labelled.any(axis=1, keepdims=True)
    # Rows without labels would give inf - inf; zero them before subtracting.
    low = np.where(any_labelled, np.where(mask, ground_truth, np.inf).min(axis=1), 0.0)
    high = np.where(any_labelled, np.where(mask, ground_truth, -np.inf).max(axis=1), 0.0)
    return np.asarray((high - low).max(axis=-1), dtype=np.float64)


def _box_sizes(boxes: npt.ArrayLike, count: int) -> FloatArray:
    """max(w, h) of COCO [x, y, w, h] boxes."""
    array = as_float_array("boxes", boxes, "(N, 4) as [x, y, w, h]", ndim=2)
    require_shape("boxes", array, (count, 4), "(N, 4)")
    require_finite("boxes", array)
    if (array[:, 2:] < 0).any():
        index = int(np.argwhere((array[:, 2:] < 0).any(axis=1))[0][0])
        raise ValueError(f"boxes must have w, h >= 0, got {array[index].tolist()} at index {index}")
    return np.asarray(array[:, 2:].max(axis=1), dtype=np.float64)


def resolve_normalizers(
    normalizer: NormalizerName | npt.ArrayLike,
    ground_truth: FloatArray,
    labelled: BoolArray,
    *,
    boxes: npt.ArrayLike | None = None,
    head_sizes: npt.ArrayLike | None = None,
) -> Normalizers:
    """The PCK yardstick per sample.

    "torso": left shoulder to right hip (5, 12), or right shoulder to left hip (6, 11) when an end of the
    first pair is not labelled; a zero-length first pair does not fall back. "bbox": max(w, h) of `boxes`
    ([x, y, w, h]) when given, else of the extent of the labelled ground-truth points. "head": `head_sizes`
    when given, else the ear-to-ear distance (3, 4). An array: one size per sample, NaN marking unknown.
    """
    count = labelled.shape[0]
    missing = fallback = np.zeros(count, dtype=bool)
    missing_reason: ExclusionReason | None = None  # why `missing` samples have no size
    if not isinstance(normalizer, str):
        kind = "explicit"
        sizes = as_nonnegative_sizes("normalizer", normalizer, count)
    elif normalizer == "torso":
        kind = normalizer
        sizes, found, fallback = _torso(ground_truth, labelled)
        missing, missing_reason = ~found, ExclusionReason.TORSO_NOT_LABELLED
    elif normalizer == "bbox":
        kind = normalizer
        sizes = _keypoint_extent(ground_truth, labelled) if boxes is None else _box_sizes(boxes, count)
    elif normalizer == "head":
        kind = normalizer
        if head_sizes is not None:
            sizes = as_nonnegative_sizes("head_sizes", head_sizes, count)
        else:
            _require_coco("head", labelled.shape[1])
            sizes, found = _pair_sizes(ground_truth, labelled, HEAD_PAIR)
            missing, missing_reason = ~found, ExclusionReason.HEAD_NOT_LABELLED
    else:
        raise ValueError(f"normalizer must be one of {NORMALIZER_NAMES} or per-sample sizes, got {normalizer!r}")

    unlabelled = np.count_nonzero(labelled, axis=1) == 0
    reasons: list[ExclusionReason | None] = []
    for i in range(count):
        if unlabelled[i]:
            reasons.append(ExclusionReason.NO_LABELLED_KEYPOINTS)
        elif missing[i]:
            reasons.append(missing_reason)
        elif not np.isfinite(sizes[i]):
            reasons.append(ExclusionReason.NORMALIZER_NOT_FINITE)
        elif sizes[i] == 0:
            reasons.append(ExclusionReason.NORMALIZER_ZERO)
        else:
            reasons.append(None)
    usable = np.array([reason is None for reason in reasons], dtype=bool)
    return Normalizers(kind, np.where(usable, sizes, 1.0), tuple(reasons), int((fallback & usable).sum()))
