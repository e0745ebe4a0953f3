"""Image-level augmentation of a rendered pose sample: geometry that moves the labels with the pixels, then
camera-like degradation, so the pose CNN cannot rely on one clean drawing style.

Every function keeps the continuous-pixel convention of `synthetic_pose`: pixel (row r, column c) covers
[c, c + 1) x [r, r + 1). The style-level variety (bodies, line widths, silhouettes, backgrounds) lives in
`figure_styles`; `AugmentConfig` holds the settings of both.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFilter

from evaluation.keypoints import COCO_KEYPOINT_NAMES, VISIBILITY_UNLABELLED

Affine = npt.NDArray[np.float64]  # (2, 3): [x', y'] = A @ [x, y, 1]
# The figure_styles drawers and how often each is drawn; "clothed" is the renderer of the test split. Most augmented
# images are "puffy" (plump, smooth, unoutlined bodies), the style furthest from the clean renderer's thin crisp one.
STYLE_WEIGHTS: dict[str, float] = {
    "clothed": 0.1,
    "silhouette": 0.1,
    "textured": 0.05,
    "outline": 0.05,
    "stick": 0.1,
    "puffy": 0.6,
}


@dataclass(frozen=True)
class AugmentConfig:
    """Chances and ranges of each augmentation; the defaults are what the demo pose_cnn trains on."""

    clean_prob: float = 0.8  # chance that an image is left exactly as the test split's renderer draws it
    # Style level (figure_styles): the drawing and what lies behind it.
    shape_spread: float = 0.25  # each segment length (and the head) scaled by up to +-shape_spread
    build: tuple[float, float] = (0.45, 1.9)  # limb thickness multiplier, uniform range
    styles: dict[str, float] = field(default_factory=lambda: dict(STYLE_WEIGHTS))  # drawing style -> weight
    photo_prob: float = 0.35  # background from a shipped scene photograph instead of random clutter
    # Image level (this module).
    flip_prob: float = 0.5
    rotation_deg: float = 25.0  # extra in-plane rotation, uniform in +-rotation_deg
    scale: tuple[float, float] = (0.75, 1.2)  # zoom about the image centre, uniform range
    shift: float = 0.1  # translation, up to this fraction of the image side
    affine_prob: float = 0.5  # chance of the rotation/scale/shift warp at all
    colour_prob: float = 0.3  # channel shuffle, greyscale or inversion, then contrast/brightness
    blur_prob: float = 0.25
    blur_radius: tuple[float, float] = (0.5, 2.0)  # Gaussian sigma in pixels
    noise_prob: float = 0.3
    noise_std: tuple[float, float] = (2.0, 20.0)
    jpeg_prob: float = 0.25
    jpeg_quality: tuple[int, int] = (10, 60)

    def __post_init__(self) -> None:
        if not self.styles or min(self.styles.values()) < 0 or sum(self.styles.values()) <= 0:
            raise ValueError(f"styles needs non-negative weights with a positive sum, got {self.styles}")


@functools.lru_cache(maxsize=1)
def flip_permutation() -> tuple[int, ...]:
    """Index of each joint's mirror image, from the COCO names: left_x <-> right_x, the nose to itself."""
    index = {name: i for i, name in enumerate(COCO_KEYPOINT_NAMES)}

    def mirror(name: str) -> str:
        for side, other in (("left_", "right_"), ("right_", "left_")):
            if name.startswith(side):
                return other + name[len(side) :]
        return name

    return tuple(index[mirror(name)] for name in COCO_KEYPOINT_NAMES)


def hflip(
    image: npt.NDArray[np.uint8], keypoints: npt.NDArray[np.float32], visibility: npt.NDArray[np.uint8]
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """Mirror left-right: x -> W - x, and a left joint becomes the right one (the person now faces the other way)."""
    order = list(flip_permutation())
    mirrored = keypoints[order].copy()
    mirrored[:, 0] = image.shape[1] - mirrored[:, 0]
    return np.ascontiguousarray(image[:, ::-1]), mirrored, visibility[order].copy()


def affine_matrix(size: tuple[int, int], angle_deg: float, scale: float, shift: tuple[float, float]) -> Affine:
    """Rotate by `angle_deg` (counter-clockwise on screen) and zoom by `scale` about the image centre, then shift."""
    height, width = size
    centre = np.array([width / 2, height / 2])
    angle = np.deg2rad(angle_deg)
    c, s = np.cos(angle), np.sin(angle)
    linear = scale * np.array([[c, s], [-s, c]])  # y points down, so this turns the picture counter-clockwise
    offset = centre + np.asarray(shift) - linear @ centre
    return np.column_stack([linear, offset])


def warp(
    image: npt.NDArray[np.uint8],
    keypoints: npt.NDArray[np.float32],
    visibility: npt.NDArray[np.uint8],
    matrix: Affine,
    fill: tuple[int, int, int],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """Apply `matrix` to the pixels (bilinear, `fill` where nothing maps) and to the keypoints alike.

    A labelled point that leaves the frame becomes unlabelled (flag 0), as the renderer marks points outside.
    """
    height, width = image.shape[:2]
    inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    # Pillow maps output pixel centres through the inverse in the same continuous coordinates.
    coefficients = tuple(float(v) for v in inverse.ravel())
    warped = Image.fromarray(image).transform(
        (width, height), Image.Transform.AFFINE, coefficients, Image.Resampling.BILINEAR, fillcolor=fill
    )
    moved = (keypoints.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]).astype(np.float32)
    x, y = moved[:, 0], moved[:, 1]
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    flags = np.where(inside, visibility, VISIBILITY_UNLABELLED).astype(np.uint8)
    return np.asarray(warped), moved, flags


def recolour(image: npt.NDArray[np.uint8], rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """Shuffle the channels, go grey or invert, then random contrast and brightness: colour must not be the cue."""
    pixels = image.astype(np.float32)
    choice = rng.integers(3)
    if choice == 0:
        pixels = pixels[..., rng.permutation(3)]
    elif choice == 1:
        pixels = np.repeat(pixels.mean(axis=-1, keepdims=True), 3, axis=-1)
    else:
        pixels = 255 - pixels
    mean = pixels.mean()
    pixels = (pixels - mean) * rng.uniform(0.6, 1.4) + mean + rng.uniform(-40, 40)
    return np.clip(pixels + 0.5, 0, 255).astype(np.uint8)


def blur(image: npt.NDArray[np.uint8], radius: float) -> npt.NDArray[np.uint8]:
    return np.asarray(Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius)))


def add_noise(image: npt.NDArray[np.uint8], rng: np.random.Generator, std: float) -> npt.NDArray[np.uint8]:
    noisy = image + rng.standard_normal(image.shape, dtype=np.float32) * np.float32(std) + np.float32(0.5)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def jpeg(image: npt.NDArray[np.uint8], quality: int) -> npt.NDArray[np.uint8]:
    """Round-trip through JPEG at `quality`: blocking and ringing as in photos from the web."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
    return np.asarray(Image.open(buffer).convert("RGB"))


def augment_image(
    image: npt.NDArray[np.uint8],
    keypoints: npt.NDArray[np.float32],
    visibility: npt.NDArray[np.uint8],
    rng: np.random.Generator,
    config: AugmentConfig,
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """Flip, warp, recolour, blur, add noise and compress, each by its chance in `config`."""
    height, width = image.shape[:2]
    if rng.random() < config.flip_prob:
        image, keypoints, visibility = hflip(image, keypoints, visibility)
    if rng.random() < config.affine_prob:
        shift = rng.uniform(-config.shift, config.shift, 2) * [width, height]
        matrix = affine_matrix(
            (height, width),
            rng.uniform(-config.rotation_deg, config.rotation_deg),
            rng.uniform(*config.scale),
            (float(shift[0]), float(shift[1])),
        )
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        image, keypoints, visibility = warp(image, keypoints, visibility, matrix, (fill[0], fill[1], fill[2]))
    if rng.random() < config.colour_prob:
        image = recolour(image, rng)
    if rng.random() < config.blur_prob:
        image = blur(image, rng.uniform(*config.blur_radius))
    if rng.random() < config.noise_prob:
        image = add_noise(image, rng, rng.uniform(*config.noise_std))
    if rng.random() < config.jpeg_prob:
        image = jpeg(image, int(rng.integers(config.jpeg_quality[0], config.jpeg_quality[1] + 1)))
    return image, keypoints, visibility
