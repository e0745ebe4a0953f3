"""Person crops -> the pose graph's input, as its card says (`modelcard.pose.PoseInput`). Blocking (Pillow)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from modelcard import ModelCard
from modelcard.letterbox import Letterbox, letterbox_image, person_box
from modelcard.pose import PoseInput
from service.errors import InvalidInput
from service.tasks.images import pad_fill

Box = tuple[float, float, float, float]  # x, y, w, h in image pixels
MIN_BOX_SIDE = 1.0  # pixels; a crop of less is no person, and near 1e-306 its scale overflows to inf


@dataclass(frozen=True)
class Crop:
    """One person (or a whole image) resampled to the model input, and how its points map back."""

    pixels: npt.NDArray[np.uint8]  # (H, W, 3) RGB
    mapping: Letterbox  # image pixels -> input pixels


def input_size(card: ModelCard) -> tuple[int, int]:
    """(H, W) of the model input: the card's pose spec, else the image axes of its graph input."""
    spec = card.pose_spec.input
    if spec.size is not None:
        return spec.size
    axes = card.inputs[0].shape[1:3] if spec.layout == "NHWC" else card.inputs[0].shape[-2:]
    height, width = axes
    if height < 1 or width < 1:
        raise InvalidInput(f"model '{card.name}' has no fixed input size in its card; use /v2 infer")
    return height, width


def crop(image: Image.Image, box: Box | None, spec: PoseInput, size: tuple[int, int], padding: float) -> Crop:
    """A person box grows by `padding` to the input's aspect ratio (top-down); no box: the whole image."""
    region = person_box(box, size, padding) if box is not None else None
    pixels, mapping = letterbox_image(
        image, size, region, fill=pad_fill(spec.pad_value), stretch=spec.resize == "stretch" and box is None
    )
    return Crop(pixels, mapping)


def encode(pixels: npt.NDArray[np.uint8], spec: PoseInput) -> np.ndarray:
    """(N, H, W, 3) RGB crops -> the graph input: channel order, dtype, scaling and layout."""
    array: np.ndarray = pixels[..., ::-1] if spec.channels == "BGR" else pixels
    if spec.dtype == "float32":
        array = array.astype(np.float32) * np.float32(spec.scale)
        if spec.mean != (0.0, 0.0, 0.0) or spec.std != (1.0, 1.0, 1.0):
            array = (array - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    if spec.layout == "NCHW":
        array = array.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(array)


def model_input(crops: Sequence[Crop], spec: PoseInput, flip: bool) -> np.ndarray:
    """The graph input of the crops; with `flip`, their mirror images follow in the same batch (flip test)."""
    pixels = np.stack([item.pixels for item in crops])  # (N, H, W, 3)
    if flip:
        pixels = np.concatenate([pixels, pixels[:, :, ::-1]])
    return encode(pixels, spec)
