"""Pose pre- and post-processing: images -> one letterboxed batch, model keypoints -> original image pixels.

Images of any size share one batch: after letterboxing they all have the card's input size. Keypoints come
back from the model as x / W, y / H of the letterboxed input (pixel centres at (c + 0.5) / W) and leave as
continuous pixel coordinates of the uploaded image, where pixel (row r, column c) has its centre at
(c + 0.5, r + 0.5).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from evaluation.keypoints import COCO_KEYPOINT_NAMES, COCO_SKELETON
from modelcard import ModelCard
from modelcard.letterbox import Letterbox
from service.errors import InvalidInput
from service.model import Infer
from service.tasks.images import PixelBudget, decode_image, to_model_input

IMAGE_TASKS = ("pose", "sequence_pose")


@dataclass(frozen=True)
class PreparedImage:
    """One decoded upload: the model input and what is needed to map keypoints back and draw on it."""

    tensor: npt.NDArray[np.float32]  # (3, H, W) letterboxed, in [0, 1]
    letterbox: Letterbox
    image: Image.Image  # upright RGB original


@dataclass(frozen=True)
class Keypoints:
    """Keypoints of one image in its own pixels."""

    points: npt.NDArray[np.float64]  # (K, 2) x, y
    confidence: npt.NDArray[np.float32]  # (K,)
    width: int
    height: int


def input_size(card: ModelCard) -> tuple[int, int]:
    """(H, W) of the model input: the card's preprocessing, else the last two axes of its input tensor."""
    if card.preprocessing.resize == "stretch":
        raise InvalidInput(
            f"model '{card.name}' expects 'stretch' resizing, which the task endpoints do not do; use /v2 infer"
        )
    if card.preprocessing.input_size is not None:
        return card.preprocessing.input_size
    height, width = card.inputs[0].shape[-2:]
    if height < 1 or width < 1:
        raise InvalidInput(f"model '{card.name}' has no fixed input size in its card; use /v2 infer")
    return height, width


def keypoint_names(card: ModelCard, count: int) -> list[str]:
    """The card's names, else COCO's for 17 points, else joint_<k>."""
    if card.keypoint_names is not None:
        return list(card.keypoint_names)
    return list(COCO_KEYPOINT_NAMES) if count == len(COCO_KEYPOINT_NAMES) else [f"joint_{k}" for k in range(count)]


def skeleton(card: ModelCard, count: int) -> list[tuple[int, int]]:
    """The card's edges (0-based pairs), else COCO's for 17 points, else none."""
    if card.skeleton is not None:
        return [tuple(edge) for edge in card.skeleton]  # type: ignore[misc]
    return list(COCO_SKELETON) if count == len(COCO_KEYPOINT_NAMES) else []


def prepare_image(data: bytes | str, card: ModelCard, budget: PixelBudget, label: str) -> PreparedImage:
    """Blocking: decode (base64 first, if text) and letterbox one upload as the card says."""
    image = decode_image(data, budget, label)
    tensor, geometry = to_model_input(image, input_size(card), card.preprocessing.pad_value)
    return PreparedImage(tensor, geometry, image)


def prepare_images(blobs: Sequence[bytes | str], card: ModelCard, max_pixels: int) -> list[PreparedImage]:
    """Blocking: every upload of one request, within one pixel budget, labelled by position in error messages."""
    budget = PixelBudget(max_pixels)
    return [prepare_image(data, card, budget, f"image {i}") for i, data in enumerate(blobs)]


def to_pixels(
    keypoints: npt.NDArray[np.floating],
    confidence: npt.NDArray[np.floating],
    letterbox: Letterbox,
    size: tuple[int, int],
    source_size: tuple[int, int],
) -> Keypoints:
    """Model output (K, 2) in [0, 1] of the input of `size` (H, W) -> pixels of the (W, H) `source_size` image."""
    height, width = size
    points = letterbox.to_source(np.asarray(keypoints, np.float64) * [width, height])  # (K, 2)
    return Keypoints(points, np.asarray(confidence, np.float32), source_size[0], source_size[1])


async def run_pose(
    infer: Infer,
    card: ModelCard,
    batch: npt.NDArray[np.float32],
    mappings: Sequence[tuple[Letterbox, tuple[int, int]]],
) -> list[Keypoints]:
    """One batched run; keypoints of sample i mapped back through `mappings[i]` (letterbox, source (W, H))."""
    outputs = await infer({card.inputs[0].name: batch}, ["keypoints", "confidence"])
    size = input_size(card)
    return [
        to_pixels(points, confidence, letterbox, size, source)
        for points, confidence, (letterbox, source) in zip(
            outputs["keypoints"], outputs["confidence"], mappings, strict=True
        )
    ]
