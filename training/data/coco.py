"""COCO keypoint annotations plus an image folder -> person crops letterboxed to the model input.

Parsing and validation are `evaluation.coco`'s; this module only crops. Each person's bbox grows by `margin`
around its centre and is letterboxed (`modelcard.letterbox`) into `input_size`; keypoints follow the same
mapping and keep their flags, except that points falling outside the crop become 0. Crowd annotations
and those without a labelled keypoint are skipped. COCO stores keypoints as integer pixel indices (detectron2
reads them the same way), so 0.5 is added to reach the continuous convention used everywhere here, in which
pixel (row r, column c) covers [c, c + 1) x [r, r + 1); boxes are continuous already.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from evaluation.coco import read_coco_ground_truth
from evaluation.keypoints import NUM_COCO_KEYPOINTS
from modelcard.letterbox import COCO_INDEX_TO_CONTINUOUS, CROP_MARGIN, Letterbox, crop_person, grow_box


@dataclass(frozen=True)
class CocoPoseSet:
    """One row per kept person annotation, in file order."""

    images: npt.NDArray[np.uint8]  # (N, H, W, 3) letterboxed crops
    keypoints: npt.NDArray[np.float32]  # (N, 17, 2) crop pixels, continuous; meaningless where the flag is 0
    visibility: npt.NDArray[np.uint8]  # (N, 17) COCO flags
    letterboxes: tuple[Letterbox, ...]  # source image <-> crop mapping of each row
    image_ids: npt.NDArray[np.int64]  # (N,)
    annotation_ids: npt.NDArray[np.int64]  # (N,)


def load_coco_keypoints(
    annotation_file: str | Path,
    image_dir: str | Path,
    input_size: tuple[int, int] = (128, 128),
    margin: float = CROP_MARGIN,
) -> CocoPoseSet:
    """All usable person annotations of a COCO keypoint file, cropped from the images in `image_dir`."""
    data = json.loads(Path(annotation_file).read_text())
    truth = read_coco_ground_truth(data)
    if len(truth.keypoint_names) != NUM_COCO_KEYPOINTS:
        raise ValueError(
            f"expected the {NUM_COCO_KEYPOINTS} COCO keypoints, the file names {len(truth.keypoint_names)}"
        )
    files = {record["id"]: record.get("file_name") for record in data["images"]}  # ids validated above
    keep = ~truth.iscrowd & (truth.visibility > 0).any(axis=1) & (truth.boxes[:, 2:] > 0).all(axis=1)
    rows = np.flatnonzero(keep)
    height, width = input_size
    images = np.empty((len(rows), height, width, 3), np.uint8)
    keypoints = np.empty((len(rows), NUM_COCO_KEYPOINTS, 2), np.float32)
    visibility = np.empty((len(rows), NUM_COCO_KEYPOINTS), np.uint8)
    letterboxes: list[Letterbox] = []
    opened: tuple[int, Image.Image] | None = None  # annotations of one image usually follow each other
    for out, row in enumerate(rows):
        image_id = int(truth.annotation_image_ids[row])
        if opened is None or opened[0] != image_id:
            file_name = files.get(image_id)
            if not isinstance(file_name, str):
                raise ValueError(f"images[] entry {image_id} needs a file_name to crop its persons from")
            with Image.open(Path(image_dir) / file_name) as source:
                opened = (image_id, source.convert("RGB"))
        images[out], keypoints[out], visibility[out], mapping = crop_person(
            opened[1],
            grow_box(truth.boxes[row], margin),
            truth.keypoints[row] + COCO_INDEX_TO_CONTINUOUS,
            truth.visibility[row],
            input_size,
        )
        letterboxes.append(mapping)
    return CocoPoseSet(
        images=images,
        keypoints=keypoints,
        visibility=visibility,
        letterboxes=tuple(letterboxes),
        image_ids=truth.annotation_image_ids[rows],
        annotation_ids=truth.annotation_ids[rows],
    )
