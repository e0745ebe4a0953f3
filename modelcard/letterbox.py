"""Letterbox geometry: fit a box of an image into the model input keeping the aspect ratio, and map points.

numpy and Pillow only (no torch), so serving can share it. Points are continuous pixel coordinates: pixel
(row r, column c) covers [c, c + 1) x [r, r + 1), so its centre is (c + 0.5, r + 0.5). In that convention a
resize is a pure scale, and Pillow's affine transform samples output pixel centres the same way, so the
mapping below is exact for both the image and the points. Boxes are (x, y, w, h) in the same coordinates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

PAD_RGB = (114, 114, 114)  # letterbox padding: the grey training crops use, recorded in each card's pad_value
_ANTIALIAS_BELOW = 0.5  # scales below this pre-shrink by an integer box filter, which affine sampling lacks


@dataclass(frozen=True)
class Letterbox:
    """out = (scale * x + offset_x, scale_y * y + offset_y); a letterbox scales both axes alike (`scale_y` None),
    a stretch each on its own."""

    scale: float
    offset_x: float
    offset_y: float
    scale_y: float | None = None

    @property
    def scales(self) -> tuple[float, float]:
        return self.scale, self.scale if self.scale_y is None else self.scale_y

    def to_output(self, points: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Source-image points (..., 2) -> model-input points."""
        return np.asarray(points, dtype=np.float64) * self.scales + [self.offset_x, self.offset_y]

    def to_source(self, points: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Model-input points (..., 2) -> source-image points (predicted keypoints back to the upload)."""
        return (np.asarray(points, dtype=np.float64) - [self.offset_x, self.offset_y]) / self.scales


def fit_letterbox(box: tuple[float, float, float, float], out_size: tuple[int, int]) -> Letterbox:
    """The largest scale at which `box` fits `out_size` (H, W), centred; the spare side is padding."""
    x, y, w, h = _checked(box)
    out_h, out_w = out_size
    scale = min(out_w / w, out_h / h)
    return Letterbox(scale, (out_w - scale * w) / 2 - scale * x, (out_h - scale * h) / 2 - scale * y)


def fit_stretch(box: tuple[float, float, float, float], out_size: tuple[int, int]) -> Letterbox:
    """`box` resized to fill `out_size` (H, W) exactly, each axis by its own scale."""
    x, y, w, h = _checked(box)
    out_h, out_w = out_size
    return Letterbox(out_w / w, -out_w / w * x, -out_h / h * y, scale_y=out_h / h)


def _checked(box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    if box[2] <= 0 or box[3] <= 0:
        raise ValueError(f"box must have a positive width and height, got {box}")
    return box


def letterbox_image(
    image: Image.Image,
    out_size: tuple[int, int],
    box: tuple[float, float, float, float] | None = None,
    fill: tuple[int, int, int] = PAD_RGB,
    stretch: bool = False,
) -> tuple[npt.NDArray[np.uint8], Letterbox]:
    """Resample `box` (default: the whole image) into an (H, W, 3) uint8 array and return the mapping.

    The spare side shows the image around the box where there is some (the box grows to the output's aspect
    ratio, as top-down pose estimators crop) and `fill` beyond the image's edges. `stretch` fills the output
    with the box instead, each axis scaled on its own.
    """
    rgb = image.convert("RGB")
    whole = (0.0, 0.0, float(rgb.width), float(rgb.height))
    geometry = (fit_stretch if stretch else fit_letterbox)(box or whole, out_size)
    smaller = min(geometry.scales)
    factor = int(1 / smaller) if smaller < _ANTIALIAS_BELOW else 1
    if factor > 1:
        rgb = rgb.reduce(factor)  # source coordinates shrink by exactly `factor`
    scale_x, scale_y = (scale * factor for scale in geometry.scales)
    # Pillow's AFFINE data maps output coordinates to input ones: the inverse of the mapping.
    inverse = (1 / scale_x, 0.0, -geometry.offset_x / scale_x, 0.0, 1 / scale_y, -geometry.offset_y / scale_y)
    out_h, out_w = out_size
    resampled = rgb.transform(
        (out_w, out_h), Image.Transform.AFFINE, inverse, resample=Image.Resampling.BILINEAR, fillcolor=fill
    )
    return np.asarray(resampled, dtype=np.uint8), geometry


# How a COCO person becomes a model input, shared by training's loader and the service's evaluation uploads.
COCO_INDEX_TO_CONTINUOUS = 0.5  # COCO stores integer pixel indices; +0.5 puts them at pixel centres
CROP_MARGIN = 0.25  # a person's box grows by this fraction of its size before cropping


def grow_box(box: npt.ArrayLike, margin: float) -> tuple[float, float, float, float]:
    """(x, y, w, h) enlarged by the fraction `margin` on each dimension, about its centre."""
    x, y, w, h = (float(v) for v in np.asarray(box, dtype=np.float64))
    return x - w * margin / 2, y - h * margin / 2, w * (1 + margin), h * (1 + margin)


def person_box(box: npt.ArrayLike, out_size: tuple[int, int], padding: float) -> tuple[float, float, float, float]:
    """A detector's person box as top-down pose models crop it (MMPose's bbox_xywh2cs with fix_aspect_ratio):
    scaled by `padding` about its centre, then widened on one axis to the (H, W) `out_size` aspect ratio."""
    x, y, w, h = grow_box(box, padding - 1)
    aspect = out_size[1] / out_size[0]
    new_w, new_h = max(w, h * aspect), max(h, w / aspect)
    return x + (w - new_w) / 2, y + (h - new_h) / 2, new_w, new_h


def crop_person(
    image: Image.Image,
    box: tuple[float, float, float, float],
    keypoints: npt.ArrayLike,
    visibility: npt.ArrayLike,
    input_size: tuple[int, int],
    fill: tuple[int, int, int] = PAD_RGB,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.uint8], Letterbox]:
    """Letterbox `box` of `image` into `input_size` (H, W) and carry continuous keypoints (K, 2) along.

    Points that leave the crop become unlabelled (COCO flag 0), as they are for training and for scoring.
    """
    crop, mapping = letterbox_image(image, input_size, box, fill=fill)
    points = mapping.to_output(keypoints)
    height, width = input_size
    inside = (points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)
    flags = np.where(inside, np.asarray(visibility), 0).astype(np.uint8)
    return crop, points.astype(np.float32), flags, mapping
