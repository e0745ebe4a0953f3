"""Pose, top-down: uploads (and person boxes) -> crops -> one batched run -> keypoints in each upload's pixels.

The one core function every pose route calls (`estimate`). Points leave as continuous pixel coordinates of the
uploaded image, where pixel (row r, column c) has its centre at (c + 0.5, r + 0.5). Without boxes each image is
one person, letterboxed whole; with boxes every box of every image is cropped and all crops of a request share
one run (and so the dynamic batcher), mirrored copies included when the flip test is on.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from evaluation.keypoints import COCO_KEYPOINT_NAMES, COCO_SKELETON, mirrored_pairs
from modelcard import ModelCard
from modelcard.letterbox import Letterbox
from service.errors import InvalidInput, PayloadTooLarge
from service.model import Infer
from service.tasks.forecast import to_history
from service.tasks.images import Decoded, Fit, PixelBudget, decode_image, decode_reduced, to_model_input
from service.tasks.pose_inputs import MIN_BOX_SIDE, Box, Crop, crop, input_size, model_input
from service.tasks.pose_outputs import decode_card_outputs, merge_flipped

IMAGE_TASKS = ("pose", "sequence_pose")
MAX_BOX_COORDINATE = 1e7  # pixels; beyond any image the pixel limit lets through, and far from float trouble


@dataclass(frozen=True)
class Keypoints:
    """One person's keypoints in the pixels of the image they were found in."""

    points: npt.NDArray[np.float64]  # (K, 2) x, y
    confidence: npt.NDArray[np.float32]  # (K,)
    width: int
    height: int
    box: Box | None = None  # the person box the request gave, if any

    @property
    def score(self) -> float:
        """The person's score: the mean keypoint confidence."""
        return float(self.confidence.mean()) if self.confidence.size else 0.0


@dataclass(frozen=True)
class ImagePoses:
    """Everyone found in one upload: one person per box, or the whole image as one person without boxes."""

    width: int
    height: int
    people: list[Keypoints]
    boxed: bool
    image: Image.Image | None = None  # upright RGB, for drawing


@dataclass(frozen=True)
class PoseOptions:
    """Per-request top-down settings; None takes the card's default."""

    boxes: Sequence[Sequence[Box]] | None = None  # per image
    padding: float | None = None
    flip: bool | None = None
    draw: bool = False  # keep each upload at full resolution to draw on


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


def check_boxes(boxes: Sequence[Sequence[Box]], images: int) -> None:
    """One list per image; each box (four numbers, as the request schemas parse it) finite, at least
    `MIN_BOX_SIDE` wide and high."""
    if len(boxes) != images:
        raise InvalidInput(f"boxes: {len(boxes)} lists for {images} images; give one list (maybe empty) per image")
    for i, image_boxes in enumerate(boxes):
        for j, box in enumerate(image_boxes):
            if not all(math.isfinite(v) and abs(v) <= MAX_BOX_COORDINATE for v in box):  # four: parsed as tuples
                raise InvalidInput(f"boxes[{i}][{j}] must be [x, y, w, h], finite, within ±{MAX_BOX_COORDINATE:g} px")
            if box[2] < MIN_BOX_SIDE or box[3] < MIN_BOX_SIDE:
                raise InvalidInput(f"boxes[{i}][{j}] = {list(box)} must be at least {MIN_BOX_SIDE:g} px wide and high")


@dataclass(frozen=True)
class Prepared:
    """The blocking half of a request: decoded uploads, their crops (in image order) and the graph input."""

    images: list[Decoded]
    crops: list[Crop]
    owners: list[int]  # image index of each crop
    batch: np.ndarray  # crops, then their mirror images when flipping


def prepare(
    uploads: Sequence[bytes | str], card: ModelCard, options: PoseOptions, flip: bool, max_pixels: int
) -> Prepared:
    """Decode, crop and encode (blocking: `estimate` runs it in a worker thread; the peer benchmark times it alone
    for the bound of /v1 pose)."""
    spec = card.pose_spec
    size = input_size(card)
    padding = spec.box_padding if options.padding is None else options.padding
    # A whole image is resampled down to the input: a large JPEG may decode at a fraction of its size, as long as
    # that keeps the pixels the input gets from it. Boxes and drawings need every pixel.
    reducible = options.boxes is None and not options.draw
    fit = Fit(size, stretch=spec.input.resize == "stretch") if reducible else None
    budget = PixelBudget(max_pixels)
    images = [decode_reduced(data, budget, f"image {i}", fit=fit) for i, data in enumerate(uploads)]
    crops: list[Crop] = []
    owners: list[int] = []
    for i, decoded in enumerate(images):
        regions: Sequence[Box | None] = [None] if options.boxes is None else options.boxes[i]
        for region in regions:
            crops.append(crop(decoded.image, region, spec.input, size, padding))
            owners.append(i)
    if not crops:
        return Prepared(images, crops, owners, np.empty(0))
    return Prepared(images, crops, owners, model_input(crops, spec.input, flip))


async def estimate(
    infer: Infer,
    card: ModelCard,
    uploads: Sequence[bytes | str],
    options: PoseOptions,
    max_pixels: int,
    max_samples: int,
) -> list[ImagePoses]:
    """Keypoints of everyone in `uploads`, in request order (boxes, when given, in their order). `max_samples`
    bounds the model inputs the request makes (crops, mirrored ones included), counted before any is cut."""
    if options.boxes is not None:
        check_boxes(options.boxes, len(uploads))
    flip = card.pose_spec.flip if options.flip is None else options.flip
    if flip:
        flip_pairs(card)  # before any work
    crops = len(uploads) if options.boxes is None else sum(len(image_boxes) for image_boxes in options.boxes)
    if crops * (2 if flip else 1) > max_samples:
        mirrored = " and as many mirrored ones (flip)" if flip else ""
        raise PayloadTooLarge(
            f"the request makes {crops} crops{mirrored}; model '{card.name}' takes at most {max_samples} samples per "
            "request (its card's max_request_batch_size, or POSECAST_MAX_REQUEST_BATCH_SIZE): split it"
        )
    plan = await asyncio.to_thread(prepare, uploads, card, options, flip, max_pixels)
    people: list[list[Keypoints]] = [[] for _ in plan.images]
    if plan.crops:
        points, scores = await infer_keypoints(infer, card, plan.batch, flip)
        for crop_, owner, crop_points, crop_scores in zip(plan.crops, plan.owners, points, scores, strict=True):
            decoded = plan.images[owner]
            box = None if options.boxes is None else options.boxes[owner][len(people[owner])]
            source = crop_.mapping.to_source(crop_points) * decoded.factor
            people[owner].append(Keypoints(source, crop_scores, *decoded.size, box))
    boxed = options.boxes is not None
    return [
        ImagePoses(*decoded.size, found, boxed, decoded.image)
        for decoded, found in zip(plan.images, people, strict=True)
    ]


async def infer_keypoints(
    infer: Infer, card: ModelCard, batch: np.ndarray, flip: bool
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32]]:
    """Input-pixel points and scores of each crop of `batch` (`model_input`), averaged with the mirrored run when
    flipping."""
    size = input_size(card)
    outputs = await infer({card.inputs[0].name: batch})
    points, scores = decode_card_outputs(outputs, card, size)
    if not flip:
        return points, scores
    half = len(points) // 2
    return merge_flipped(points[:half], scores[:half], points[half:], scores[half:], size[1], flip_pairs(card))


def flip_pairs(card: ModelCard) -> list[tuple[int, int]]:
    """The keypoints a mirror image swaps, found by name; 400 when there are none, since averaging a left joint
    with the mirror's left joint (the real right one) would pull both to the middle."""
    names = card.keypoint_names or keypoint_names(card, len(COCO_KEYPOINT_NAMES))
    pairs = mirrored_pairs(names)
    if not pairs:
        raise InvalidInput(
            f"model '{card.name}' has no left/right keypoint pairs (names starting left_/right_ or l_/r_), so it "
            "cannot be flip-tested"
        )
    return pairs


async def last_frame_pose(
    infer: Infer,
    card: ModelCard,
    frames: Sequence[bytes | str],
    array: npt.NDArray[np.floating] | None,
    max_pixels: int,
) -> ImagePoses:
    """The core of a `sequence_pose` model: keypoints of the last of `frames` (uploads, letterboxed) or of an
    (T, 3, H, W) `array` already at the input size, in that frame's pixels."""
    size = input_size(card)
    if array is None:
        prepared = await asyncio.to_thread(_prepare_frames, frames, card, max_pixels)
        array = np.stack([tensor for tensor, _, _ in prepared])  # (T, 3, H, W)
        _, mapping, (width, height) = prepared[-1]
    else:
        mapping, (height, width) = Letterbox(1.0, 0.0, 0.0), size
    outputs = await infer({card.inputs[0].name: to_history(array, card, "frames")})
    points, scores = decode_card_outputs(outputs, card, size)
    last = Keypoints(mapping.to_source(points[0]), scores[0], width, height)
    return ImagePoses(width, height, [last], boxed=False)


def _prepare_frames(
    frames: Sequence[bytes | str], card: ModelCard, max_pixels: int
) -> list[tuple[npt.NDArray[np.float32], Letterbox, tuple[int, int]]]:
    """Blocking: each frame letterboxed as the card says, within one pixel budget: (tensor, mapping, (W, H))."""
    budget = PixelBudget(max_pixels)
    prepared = []
    for i, data in enumerate(frames):
        image = decode_image(data, budget, f"image {i}")
        tensor, mapping = to_model_input(image, input_size(card), card.preprocessing.pad_value)
        prepared.append((tensor, mapping, image.size))
    return prepared
