"""COCO keypoint files to arrays: the ground-truth annotation JSON and a results (detections) list.

Only the category that carries `keypoints` (the person) is read. Messages name the offending record, e.g.
"annotations[3].keypoints has 50 values, expected 51", so a bad upload gets a 4xx that says what to fix.
`num_keypoints` is not trusted: the number of labelled points is always recounted from the v flags.
`area` (the segmentation's area, which scales OKS) falls back to the box's w*h when an annotation has none.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from evaluation.arrays import BoolArray, FloatArray, IntArray, as_float_array, require_finite


@dataclass(frozen=True, eq=False)
class CocoGroundTruth:
    """One row per annotation of the keypoint category, in file order."""

    category_id: int
    keypoint_names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]  # 0-based joint indices (the file's are 1-based)
    image_ids: frozenset[int]  # every image in the file, annotated or not
    annotation_ids: IntArray  # (N,)
    annotation_image_ids: IntArray  # (N,)
    keypoints: FloatArray  # (N, K, 2) pixels
    visibility: IntArray  # (N, K) COCO flags
    boxes: FloatArray  # (N, 4) [x, y, w, h]
    iscrowd: BoolArray  # (N,)
    areas: FloatArray  # (N,) the annotation's `area`, or its box's w*h when absent


@dataclass(frozen=True, eq=False)
class CocoDetections:
    """One row per result of the keypoint category, in file order (the v values of results are ignored)."""

    image_ids: IntArray  # (M,)
    keypoints: FloatArray  # (M, K, 2)
    scores: FloatArray  # (M,)


# No image is ten million pixels wide; values past this only overflow areas and distances into inf and NaN.
MAX_PIXEL_VALUE = 1e7
MAX_AREA = MAX_PIXEL_VALUE**2


def _field(record: Any, key: str, where: str) -> Any:
    if not isinstance(record, Mapping):
        raise ValueError(f"{where} must be a JSON object, got {type(record).__name__}")
    if key not in record:
        raise ValueError(f"{where} is missing {key!r}")
    return record[key]


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"{where} must be a JSON list, got {type(value).__name__}")
    return value


def _integer(value: Any, where: str) -> int:
    """An integer field (ids, flags, joint numbers), held as int64 as pycocotools' arrays hold it."""
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**63) <= value < 2**63:
        raise ValueError(f"{where} must be an integer that fits 64 bits, got {_shown(value)}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(_as_float(value)):
        raise ValueError(f"{where} must be a finite number, got {_shown(value)}")
    return float(value)


def _as_float(value: int | float) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer literal past float's range
        return math.inf


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:40]}... ({len(text)} characters)"


def _numbers(value: Any, count: int, where: str, layout: str) -> FloatArray:
    """A flat list of exactly `count` finite pixel values."""
    array = as_float_array(where, _list(value, where), layout, ndim=1)
    if array.size != count:
        raise ValueError(f"{where} has {array.size} values, expected {count} ({layout})")
    require_finite(where, array)
    largest = float(np.abs(array).max()) if array.size else 0.0
    if largest > MAX_PIXEL_VALUE:
        raise ValueError(f"{where} holds {largest:.3g}; COCO values are pixels, at most {MAX_PIXEL_VALUE:.0e}")
    return array


def _area(annotation: Mapping[str, Any], box: FloatArray, where: str) -> float:
    """The annotation's `area` in square pixels (OKS scale, area ranges); w*h of its box when the file has none."""
    if "area" not in annotation:
        return float(box[2] * box[3])
    area = _number(annotation["area"], f"{where}.area")
    if not 0 <= area <= MAX_AREA:
        raise ValueError(f"{where}.area must be in [0, {MAX_AREA:.0e}] square pixels, got {area!r}")
    return area


def _triplets(value: Any, num_joints: int, where: str) -> tuple[FloatArray, FloatArray]:
    """[x1, y1, v1, x2, ...] -> ((K, 2) coordinates, (K,) flags)."""
    array = _numbers(value, 3 * num_joints, where, f"[x, y, v] for each of {num_joints} keypoints")
    triplets = array.reshape(num_joints, 3)
    return triplets[:, :2], triplets[:, 2]


def _keypoint_category(categories: list[Any]) -> Mapping[str, Any]:
    """The category with `keypoints`; "person" decides when several have them."""
    found = [c for c in categories if isinstance(c, Mapping) and "keypoints" in c]
    if len(found) > 1:
        found = [c for c in found if c.get("name") == "person"]
    if len(found) != 1:
        raise ValueError("categories must hold exactly one keypoint category (with 'keypoints'), or one 'person'")
    return found[0]


def _skeleton(category: Mapping[str, Any], num_joints: int) -> tuple[tuple[int, int], ...]:
    edges = []
    for i, edge in enumerate(_list(category.get("skeleton", []), "categories[].skeleton")):
        where = f"skeleton[{i}]"
        pair = [_integer(end, where) for end in _list(edge, where)]
        if len(pair) != 2 or not all(1 <= end <= num_joints for end in pair):
            raise ValueError(f"{where} must be two 1-based joint indices in 1..{num_joints}, got {edge!r}")
        edges.append((pair[0] - 1, pair[1] - 1))
    return tuple(edges)


def read_coco_ground_truth(data: Any) -> CocoGroundTruth:
    """Parse a COCO keypoint annotation dict (the loaded JSON) into arrays."""
    category = _keypoint_category(_list(_field(data, "categories", "annotation file"), "categories"))
    category_id = _integer(_field(category, "id", "the keypoint category"), "the keypoint category's id")
    names = _list(category["keypoints"], "the keypoint category's keypoints")
    if not names or not all(isinstance(name, str) for name in names):
        raise ValueError(f"the keypoint category's keypoints must be a non-empty list of names, got {names!r}")
    num_joints = len(names)
    images = _list(_field(data, "images", "annotation file"), "images")
    image_ids = frozenset(_integer(_field(im, "id", f"images[{i}]"), f"images[{i}].id") for i, im in enumerate(images))

    rows: list[tuple[int, int, FloatArray, FloatArray, FloatArray, bool, float]] = []
    for i, ann in enumerate(_list(_field(data, "annotations", "annotation file"), "annotations")):
        where = f"annotations[{i}]"
        if _integer(_field(ann, "category_id", where), f"{where}.category_id") != category_id:
            continue
        image_id = _integer(_field(ann, "image_id", where), f"{where}.image_id")
        if image_id not in image_ids:
            raise ValueError(f"{where}.image_id {image_id} is not in images")
        points, flags = _triplets(_field(ann, "keypoints", where), num_joints, f"{where}.keypoints")
        if not np.isin(flags, (0, 1, 2)).all():
            raise ValueError(f"{where}.keypoints has visibility flags {flags.tolist()}; each must be 0, 1 or 2")
        box = _numbers(_field(ann, "bbox", where), 4, f"{where}.bbox", "[x, y, w, h]")
        if (box[2:] < 0).any():
            raise ValueError(f"{where}.bbox must have w, h >= 0, got {box.tolist()}")
        crowd = _integer(ann.get("iscrowd", 0), f"{where}.iscrowd")
        ann_id = _integer(_field(ann, "id", where), f"{where}.id")
        rows.append((ann_id, image_id, points, flags, box, bool(crowd), _area(ann, box, where)))

    return CocoGroundTruth(
        category_id=category_id,
        keypoint_names=tuple(names),
        skeleton=_skeleton(category, num_joints),
        image_ids=image_ids,
        annotation_ids=np.array([r[0] for r in rows], dtype=np.int64),
        annotation_image_ids=np.array([r[1] for r in rows], dtype=np.int64),
        keypoints=np.array([r[2] for r in rows], dtype=np.float64).reshape(-1, num_joints, 2),
        visibility=np.array([r[3] for r in rows], dtype=np.int64).reshape(-1, num_joints),
        boxes=np.array([r[4] for r in rows], dtype=np.float64).reshape(-1, 4),
        iscrowd=np.array([r[5] for r in rows], dtype=bool),
        areas=np.array([r[6] for r in rows], dtype=np.float64),
    )


def read_coco_results(results: Any, ground_truth: CocoGroundTruth) -> CocoDetections:
    """Parse a COCO results list ({image_id, category_id, keypoints, score}) against its ground truth."""
    num_joints = len(ground_truth.keypoint_names)
    image_ids: list[int] = []
    keypoints: list[FloatArray] = []
    scores: list[float] = []
    for i, result in enumerate(_list(results, "results")):
        where = f"results[{i}]"
        category_id = _integer(_field(result, "category_id", where), f"{where}.category_id")
        if category_id != ground_truth.category_id:
            raise ValueError(f"{where}.category_id is {category_id}, expected {ground_truth.category_id}")
        image_id = _integer(_field(result, "image_id", where), f"{where}.image_id")
        if image_id not in ground_truth.image_ids:
            raise ValueError(f"{where}.image_id {image_id} is not an image of the annotation file")
        points, _ = _triplets(_field(result, "keypoints", where), num_joints, f"{where}.keypoints")
        score = _number(_field(result, "score", where), f"{where}.score")
        image_ids.append(image_id)
        keypoints.append(points)
        scores.append(score)
    return CocoDetections(
        image_ids=np.array(image_ids, dtype=np.int64),
        keypoints=np.array(keypoints, dtype=np.float64).reshape(-1, num_joints, 2),
        scores=np.array(scores, dtype=np.float64),
    )
