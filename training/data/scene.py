"""Everything around the person: cluttered backgrounds, occluders, camera noise and the COCO visibility flags.

Coordinates are continuous pixels: pixel (row r, column c) covers [c, c + 1) x [r, r + 1), so its centre is
(c + 0.5, r + 0.5). Pillow's drawing primitives use the same convention, so geometry is passed unchanged.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

from evaluation.keypoints import VISIBILITY_OCCLUDED, VISIBILITY_UNLABELLED, VISIBILITY_VISIBLE
from training.data.body import FloatArray, rotate

RGB = tuple[int, int, int]
UNIT_CIRCLE = np.stack([np.cos(np.arange(20) * np.pi / 10), np.sin(np.arange(20) * np.pi / 10)], axis=-1)
_UNIT_SQUARE = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
_NOISE_BANK_SIZE = 512  # side of the fixed noise field that images crop their noise from


def random_colour(rng: np.random.Generator) -> RGB:
    r, g, b = rng.integers(0, 256, 3).tolist()
    return r, g, b


def as_points(array: FloatArray) -> list[tuple[float, float]]:
    """(V, 2) array -> the list of (x, y) tuples Pillow draws fastest."""
    return [(x, y) for x, y in array.tolist()]


def _blob(rng: np.random.Generator) -> FloatArray:
    """A star-shaped polygon of 5 to 8 vertices within the unit circle."""
    count = int(rng.integers(5, 9))
    angles = np.sort(rng.uniform(0, 2 * np.pi, count))
    radii = rng.uniform(0.5, 1.0, count)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=-1)


def background(rng: np.random.Generator, size: tuple[int, int], clutter: tuple[int, int]) -> Image.Image:
    """A smooth colour field (random 2x2 to 4x4 grid upsampled) under `clutter` (min, max) random shapes."""
    height, width = size
    cells = int(rng.integers(2, 5))
    field = rng.integers(0, 256, (cells, cells, 3), dtype=np.uint8)
    image = Image.fromarray(field, "RGB").resize((width, height), Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(image)
    count = int(rng.integers(clutter[0], clutter[1] + 1))
    # One draw per parameter kind for all shapes: per-shape rng calls would dominate the cost.
    kinds = rng.integers(0, 4, count).tolist()
    colours = rng.integers(0, 256, (count, 3)).tolist()
    centres = (rng.random((count, 2)) * [width, height]).tolist()
    radii = (rng.uniform(0.03, 0.3, (count, 2)) * min(size)).tolist()
    for kind, colour, (x, y), (rx, ry) in zip(kinds, colours, centres, radii, strict=True):
        fill = (colour[0], colour[1], colour[2])
        if kind == 0:
            draw.rectangle((x - rx, y - ry, x + rx, y + ry), fill=fill)
        elif kind == 1:
            draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=fill)
        elif kind == 2:
            draw.polygon(as_points(_blob(rng) * [rx, ry] + [x, y]), fill=fill)
        else:  # limb-like bars, so that a thick bar alone does not mean "person"
            draw.line([(x - rx, y - ry), (x + rx, y + ry)], fill=fill, width=max(1, int(min(rx, ry) / 2)))
    return image


@dataclass(frozen=True)
class Occluder:
    """A filled polygon (box, ellipse or blob) that hides what lies under it; it can be drawn anywhere."""

    outline: FloatArray  # (V, 2) vertices around the origin, pixels
    colour: RGB

    def draw(self, image: Image.Image, mask: Image.Image, centre: FloatArray) -> None:
        """Draw on the RGB image and mark the same pixels in the "L" mask, so the flags match the pixels."""
        points = as_points(self.outline + centre)
        ImageDraw.Draw(image).polygon(points, fill=self.colour)
        ImageDraw.Draw(mask).polygon(points, fill=255)


def sample_occluder(rng: np.random.Generator, size: float) -> Occluder:
    """An occluder about `size` pixels across, randomly shaped, stretched, turned and coloured."""
    kind = rng.integers(3)
    unit = _UNIT_SQUARE if kind == 0 else UNIT_CIRCLE if kind == 1 else _blob(rng)
    half_axes = size / 2 * rng.uniform(0.4, 1.0, 2)
    return Occluder(outline=rotate(unit * half_axes, rng.uniform(0, np.pi)), colour=random_colour(rng))


@functools.lru_cache(maxsize=1)
def _noise_bank() -> npt.NDArray[np.float32]:
    """A fixed standard-normal field: random crops of it are ~6x cheaper than fresh noise per image."""
    shape = (_NOISE_BANK_SIZE, _NOISE_BANK_SIZE, 3)
    return np.random.default_rng(0).standard_normal(shape, dtype=np.float32)


def finish(image: Image.Image, rng: np.random.Generator, noise_std: float, blur_prob: float) -> npt.NDArray[np.uint8]:
    """Camera-like degradation: an occasional slight blur, then Gaussian pixel noise of random strength."""
    if rng.random() < blur_prob:  # a box blur of radius < 1 is a cheap 3-tap smoothing, close to a Gaussian
        image = image.filter(ImageFilter.BoxBlur(rng.uniform(0.3, 0.8)))
    pixels = np.asarray(image, dtype=np.float32)
    height, width = pixels.shape[:2]
    bank = _noise_bank()
    if height > len(bank) or width > len(bank):
        noise = rng.standard_normal(pixels.shape, dtype=np.float32)
    else:
        top, left = rng.integers(0, len(bank) - height + 1), rng.integers(0, len(bank) - width + 1)
        noise = bank[top : top + height, left : left + width]
    pixels += noise * np.float32(rng.uniform(0, noise_std)) + np.float32(0.5)  # + 0.5: round, not floor
    np.clip(pixels, 0, 255, out=pixels)
    return pixels.astype(np.uint8)


def visibility_flags(
    keypoints: FloatArray, face_hidden: npt.NDArray[np.bool_], occluded: npt.NDArray[np.bool_]
) -> npt.NDArray[np.uint8]:
    """COCO flags (17,) of one figure in an image the size of the (H, W) occluder mask `occluded`.

    0: the point lies outside the image; 1: inside, but under an occluder, or a face point turned behind
    the head; 2: visible. Self-occlusion by the figure's own limbs is not flagged.
    """
    height, width = occluded.shape
    x, y = keypoints[:, 0], keypoints[:, 1]
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    hidden = occluded[np.clip(y, 0, height - 1).astype(np.int64), np.clip(x, 0, width - 1).astype(np.int64)]
    hidden[: len(face_hidden)] |= face_hidden
    flags = np.where(hidden, VISIBILITY_OCCLUDED, VISIBILITY_VISIBLE)
    return np.where(inside, flags, VISIBILITY_UNLABELLED).astype(np.uint8)
