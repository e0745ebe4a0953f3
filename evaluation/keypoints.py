"""The COCO-17 keypoint convention: names, skeleton edges, left/right pairs and the torso end points."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

COCO_KEYPOINT_NAMES: Final[tuple[str, ...]] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
NUM_COCO_KEYPOINTS: Final = len(COCO_KEYPOINT_NAMES)

# COCO's 19 skeleton edges, converted from the annotation file's 1-based indices to 0-based ones.
COCO_SKELETON: Final[tuple[tuple[int, int], ...]] = (
    (15, 13),
    (13, 11),
    (16, 14),
    (14, 12),
    (11, 12),
    (5, 11),
    (6, 12),
    (5, 6),
    (5, 7),
    (6, 8),
    (7, 9),
    (8, 10),
    (1, 2),
    (0, 1),
    (0, 2),
    (1, 3),
    (2, 4),
    (3, 5),
    (4, 6),
)

# Pairs swapped by a horizontal flip (augmentation, symmetric drawing).
COCO_FLIP_PAIRS: Final[tuple[tuple[int, int], ...]] = (
    (1, 2),
    (3, 4),
    (5, 6),
    (7, 8),
    (9, 10),
    (11, 12),
    (13, 14),
    (15, 16),
)

# Torso diameter for PCK: left shoulder to right hip, falling back to right shoulder to left hip.
TORSO_PRIMARY: Final = (5, 12)
TORSO_FALLBACK: Final = (6, 11)

# COCO visibility flags.
VISIBILITY_UNLABELLED: Final = 0
VISIBILITY_OCCLUDED: Final = 1
VISIBILITY_VISIBLE: Final = 2

# Derived head size for PCKh when none is given: the ear-to-ear distance (COCO has no head-top point).
HEAD_PAIR: Final = (3, 4)


def mirrored_pairs(names: Sequence[str]) -> list[tuple[int, int]]:
    """Index pairs a horizontal flip swaps, found by name: `left_x` with `right_x`, `l_x` with `r_x`, any case
    (`COCO_FLIP_PAIRS` for COCO-17). A layout without sides has none."""
    position = {name.lower(): i for i, name in enumerate(names)}
    pairs = []
    for name, i in position.items():
        for left, right in (("left", "right"), ("l_", "r_")):
            if name.startswith(left) and (j := position.get(right + name[len(left) :])) is not None:
                pairs.append((i, j))
    return pairs
