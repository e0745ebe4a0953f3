"""COCO keypoint AP and AR from OKS: the ten numbers of pycocotools' `COCOeval(gt, dt, "keypoints")` with its
default parameters, in numpy, so the service scores COCO results without pycocotools.

Object Keypoint Similarity of a detection d and a person g of area s, over g's labelled points (v > 0):
    OKS = mean_k exp(-||d_k - g_k||² / (2 (s + eps) (2 σ_k)²))
A person without a labelled point is measured, over every point, by how far each one lies outside its box grown
by the box's own size on every side. In each image the 20 best-scoring detections are matched greedily, best
score first, at every OKS threshold .50:.05:.95. Crowds and people without a labelled point are ignored: a
detection matched to one is neither a true nor a false positive, and a crowd absorbs any number of them. An area
range ignores the people outside it and the unmatched detections outside it, a detection's area being the
extent of its keypoints (as pycocotools' loadRes sets it). Precision is interpolated at 101 recall points.

Where the data is unusual, this departs from pycocotools on purpose:
- `num_keypoints` is recounted from the v flags (evaluation.coco), where pycocotools trusts the file's field;
- people are told apart by row: pycocotools merges annotations that share an id, and never credits a match to
  an annotation whose id is 0 (it marks "unmatched" with id 0);
- a detection's area is always its keypoints' extent: pycocotools takes w*h of the results' `bbox` instead when
  the first result carries one;
- only the keypoint category is scored; pycocotools averages over every category of the file;
- a missing `area` falls back to the box's w*h (evaluation.coco), where pycocotools raises KeyError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from evaluation.arrays import BoolArray, FloatArray, IntArray, as_float_array, require_finite
from evaluation.coco import CocoDetections, CocoGroundTruth

# pycocotools' `kpt_oks_sigmas`, in COCO-17 order.
COCO_OKS_SIGMAS: Final[tuple[float, ...]] = tuple(
    s / 10.0
    for s in (0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89)
)
OKS_THRESHOLDS: Final = np.linspace(0.5, 0.95, 10)  # linspace, not arange, so 0.75 compares equal
RECALL_THRESHOLDS: Final = np.linspace(0.0, 1.0, 101)
MAX_DETECTIONS: Final = 20
AREA_RANGES: Final[dict[str, tuple[float, float]]] = {
    "all": (0.0, 1e10),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e10),
}
# (area range, OKS threshold or None for the mean over all) of each AP and AR, in COCOeval.stats order.
_SUMMARY: Final[tuple[tuple[str, float | None], ...]] = (
    ("all", None),
    ("all", 0.5),
    ("all", 0.75),
    ("medium", None),
    ("large", None),
)
STAT_NAMES: Final[tuple[str, ...]] = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


@dataclass(frozen=True)
class KeypointAPResult:
    """COCOeval's keypoint summary (-1 where an area range has no person that counts), with what was scored."""

    ap: float  # mean over OKS .50:.05:.95, all areas
    ap50: float
    ap75: float
    ap_medium: float
    ap_large: float
    ar: float
    ar50: float
    ar75: float
    ar_medium: float
    ar_large: float
    images: int
    ground_truth_people: int  # people that count: not crowd, with a labelled keypoint
    detections: int  # all of the results, including those past the 20 best of an image

    @property
    def stats(self) -> tuple[float, ...]:
        """The ten numbers in the order of pycocotools' `COCOeval.stats` (and of STAT_NAMES)."""
        return (
            self.ap,
            self.ap50,
            self.ap75,
            self.ap_medium,
            self.ap_large,
            self.ar,
            self.ar50,
            self.ar75,
            self.ar_medium,
            self.ar_large,
        )

    def to_dict(self) -> dict[str, float | int]:
        return {
            **dict(zip(STAT_NAMES, self.stats, strict=True)),
            "images": self.images,
            "ground_truth_people": self.ground_truth_people,
            "detections": self.detections,
        }


@dataclass(frozen=True, eq=False)
class _Image:
    """What matching needs of one image: its people in file order and its best detections, best first."""

    oks: FloatArray  # (D, G)
    scores: FloatArray  # (D,)
    detection_areas: FloatArray  # (D,)
    people_areas: FloatArray  # (G,)
    ignored: BoolArray  # (G,) crowd, or without a labelled keypoint
    crowd: BoolArray  # (G,)


@dataclass(frozen=True, eq=False)
class _Evaluated:
    """One image in one area range."""

    scores: FloatArray  # (D,)
    matched: BoolArray  # (T, D)
    ignored: BoolArray  # (T, D) neither a true nor a false positive
    people: int  # people that count


@dataclass(frozen=True, eq=False)
class _Curves:
    precision: FloatArray  # (T, R) interpolated
    recall: FloatArray  # (T,)


def _variances(sigmas: npt.ArrayLike | None, num_joints: int) -> FloatArray:
    """(2σ)² per keypoint; the COCO-17 sigmas unless others are given."""
    values = as_float_array("sigmas", COCO_OKS_SIGMAS if sigmas is None else sigmas, "(K,)", ndim=1)
    if values.size != num_joints:
        where = "the COCO-17 default sigmas have" if sigmas is None else "sigmas has"
        raise ValueError(f"{where} {values.size} values for {num_joints} keypoints; pass one sigma per keypoint")
    require_finite("sigmas", values)
    if (values <= 0).any():
        raise ValueError(f"sigmas must be > 0, got {values.tolist()}")
    return np.asarray((values * 2) ** 2, dtype=np.float64)


def _outside_box(detections: FloatArray, box: FloatArray) -> FloatArray:
    """(D, K, 2) distance of each point outside the box [x, y, w, h] grown by w and h on every side."""
    low = box[:2] - box[2:]
    high = box[:2] + box[2:] * 2
    return np.asarray(np.maximum(0.0, low - detections) + np.maximum(0.0, detections - high), dtype=np.float64)


def _person_oks(
    detections: FloatArray, person: FloatArray, labelled: BoolArray, box: FloatArray, area: float, variances: FloatArray
) -> FloatArray:
    """(D,) OKS against one person, in pycocotools' order of operations so threshold ties fall the same way."""
    offsets = detections - person if labelled.any() else _outside_box(detections, box)
    e = (offsets[..., 0] ** 2 + offsets[..., 1] ** 2) / variances / (area + np.spacing(1)) / 2
    scored = e[:, labelled] if labelled.any() else e
    return np.asarray(np.exp(-scored).sum(axis=1) / scored.shape[1], dtype=np.float64)


def _oks(
    detections: FloatArray,
    people: FloatArray,
    labelled: BoolArray,
    boxes: FloatArray,
    areas: FloatArray,
    variances: FloatArray,
) -> FloatArray:
    oks = np.zeros((len(detections), len(people)))
    for j in range(len(people)):
        oks[:, j] = _person_oks(detections, people[j], labelled[j], boxes[j], float(areas[j]), variances)
    return oks


def compute_oks(
    detections: FloatArray,
    people: FloatArray,
    visibility: IntArray,
    boxes: FloatArray,
    areas: FloatArray,
    *,
    sigmas: npt.ArrayLike | None = None,
) -> FloatArray:
    """OKS (D, G) of detections (D, K, 2) against people (G, K, 2) with COCO flags (G, K), boxes (G, 4), areas (G,)."""
    return _oks(detections, people, visibility > 0, boxes, areas, _variances(sigmas, people.shape[1]))


def _extent_areas(keypoints: FloatArray) -> FloatArray:
    """(D,) area of the box around all K points, which pycocotools' loadRes gives each keypoint result."""
    extent = keypoints.max(axis=1) - keypoints.min(axis=1)
    return np.asarray(extent[:, 0] * extent[:, 1], dtype=np.float64)


def _image(ground_truth: CocoGroundTruth, detections: CocoDetections, image_id: int, variances: FloatArray) -> _Image:
    people = np.flatnonzero(ground_truth.annotation_image_ids == image_id)
    rows = np.flatnonzero(detections.image_ids == image_id)
    rows = rows[np.argsort(-detections.scores[rows], kind="mergesort")][:MAX_DETECTIONS]  # ties keep file order
    labelled = ground_truth.visibility[people] > 0
    keypoints = detections.keypoints[rows]
    oks = _oks(
        keypoints,
        ground_truth.keypoints[people],
        labelled,
        ground_truth.boxes[people],
        ground_truth.areas[people],
        variances,
    )
    return _Image(
        oks=oks,
        scores=detections.scores[rows],
        detection_areas=_extent_areas(keypoints),
        people_areas=ground_truth.areas[people],
        ignored=ground_truth.iscrowd[people] | ~labelled.any(axis=1),
        crowd=ground_truth.iscrowd[people],
    )


def image_oks(
    ground_truth: CocoGroundTruth, detections: CocoDetections, image_id: int, *, sigmas: npt.ArrayLike | None = None
) -> FloatArray:
    """OKS (D, G) as pycocotools' computeOks has it: the image's 20 best detections (best first, ties in file
    order) against its people in file order."""
    return _image(ground_truth, detections, image_id, _variances(sigmas, len(ground_truth.keypoint_names))).oks


def _match(oks: FloatArray, ignored: BoolArray, crowd: BoolArray) -> tuple[BoolArray, BoolArray]:
    """(T, D) whether each detection is matched at each threshold, and (T, D) whether to an ignored person.

    Each detection, best first, takes the free person (a crowd stays free) with the highest OKS >= the threshold,
    people that count before ignored ones; equal OKS go to the later person, as in pycocotools' scan.
    """
    matched = np.zeros((len(OKS_THRESHOLDS), len(oks)), dtype=bool)
    on_ignored = np.zeros_like(matched)
    if not oks.size:
        return matched, on_ignored
    taken = np.zeros((len(OKS_THRESHOLDS), oks.shape[1]), dtype=bool)
    thresholds = np.arange(len(OKS_THRESHOLDS))
    for d, row in enumerate(oks):
        free = (~taken | crowd) & (row >= OKS_THRESHOLDS[:, None])  # (T, G)
        counted = free & ~ignored
        pool = np.where(counted.any(axis=1, keepdims=True), counted, free)
        best = oks.shape[1] - 1 - np.argmax(np.where(pool, row, -np.inf)[:, ::-1], axis=1)  # last of the maxima
        found = pool.any(axis=1)
        taken[thresholds[found], best[found]] = True
        matched[:, d] = found
        on_ignored[:, d] = found & ignored[best]
    return matched, on_ignored


def _inside(areas: FloatArray, area_range: tuple[float, float]) -> BoolArray:
    return np.asarray((areas >= area_range[0]) & (areas <= area_range[1]), dtype=bool)


def _evaluate(image: _Image, area_range: tuple[float, float]) -> _Evaluated:
    ignored = image.ignored | ~_inside(image.people_areas, area_range)
    matched, on_ignored = _match(image.oks, ignored, image.crowd)
    outside = ~_inside(image.detection_areas, area_range)
    return _Evaluated(image.scores, matched, on_ignored | (~matched & outside), int((~ignored).sum()))


def _interpolate(recall: FloatArray, precision: FloatArray) -> FloatArray:
    """(R,) precision at each recall threshold: the best precision at that recall or beyond, 0 past the reach."""
    best_beyond = np.maximum.accumulate(precision[::-1])[::-1]
    return np.append(best_beyond, 0.0)[np.searchsorted(recall, RECALL_THRESHOLDS, side="left")]


def _accumulate(images: list[_Evaluated]) -> _Curves | None:
    """Precision and recall over all images' detections, best score first; None when no person counts."""
    people = sum(image.people for image in images)
    if people == 0:
        return None
    order = np.argsort(-np.concatenate([image.scores for image in images]), kind="mergesort")
    matched = np.concatenate([image.matched for image in images], axis=1)[:, order]
    ignored = np.concatenate([image.ignored for image in images], axis=1)[:, order]
    true_positives = np.cumsum(matched & ~ignored, axis=1).astype(np.float64)
    false_positives = np.cumsum(~matched & ~ignored, axis=1).astype(np.float64)
    recall = true_positives / people
    precision = true_positives / (false_positives + true_positives + np.spacing(1))
    return _Curves(
        precision=np.array([_interpolate(r, p) for r, p in zip(recall, precision, strict=True)]),
        recall=recall[:, -1] if order.size else np.zeros(len(OKS_THRESHOLDS)),
    )


def _summary(curves: _Curves | None, threshold: float | None) -> tuple[float, float]:
    """(AP, AR) at one threshold or averaged over all; -1 without a person that counts, as pycocotools says."""
    if curves is None:
        return -1.0, -1.0
    rows = np.ones(len(OKS_THRESHOLDS), dtype=bool) if threshold is None else threshold == OKS_THRESHOLDS
    return float(np.mean(curves.precision[rows])), float(np.mean(curves.recall[rows]))


def coco_keypoint_ap(
    ground_truth: CocoGroundTruth, detections: CocoDetections, *, sigmas: npt.ArrayLike | None = None
) -> KeypointAPResult:
    """COCO keypoint AP/AR of detections against ground truth (see the module docstring); `sigmas` (K,) for
    keypoint layouts other than COCO-17."""
    variances = _variances(sigmas, len(ground_truth.keypoint_names))
    images = [_image(ground_truth, detections, i, variances) for i in sorted(ground_truth.image_ids)]
    evaluated = {name: [_evaluate(image, bounds) for image in images] for name, bounds in AREA_RANGES.items()}
    curves = {name: _accumulate(per_image) for name, per_image in evaluated.items()}
    (ap, ar), (ap50, ar50), (ap75, ar75), (ap_m, ar_m), (ap_l, ar_l) = (
        _summary(curves[name], threshold) for name, threshold in _SUMMARY
    )
    return KeypointAPResult(
        ap=ap,
        ap50=ap50,
        ap75=ap75,
        ap_medium=ap_m,
        ap_large=ap_l,
        ar=ar,
        ar50=ar50,
        ar75=ar75,
        ar_medium=ar_m,
        ar_large=ar_l,
        images=len(images),
        ground_truth_people=sum(image.people for image in evaluated["all"]),
        detections=len(detections.scores),
    )
