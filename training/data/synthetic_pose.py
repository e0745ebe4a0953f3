"""Synthetic pose images: a random person on a cluttered background, with COCO-17 keypoints and visibility.

Sample `i` of seed `s` is drawn from `np.random.default_rng([s, i])` alone, so any subset can be regenerated
and workers can split indices freely. Keypoints are continuous pixel coordinates (x, y): pixel
(row r, column c) covers [c, c + 1) x [r, r + 1), so its centre is (c + 0.5, r + 0.5) and the model's [0, 1]
coordinates are (x / W, y / H). A keypoint is inside the image when 0 <= x < W and 0 <= y < H.
An `AugmentConfig` (training only) adds other bodies, drawing styles, photo backgrounds and image-level
augmentation; without one the stream is the clean renderer of the test split.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from evaluation.keypoints import NUM_COCO_KEYPOINTS
from training.data.augment import AugmentConfig, augment_image
from training.data.body import Figure, pose_figure, sample_pose, sample_shape
from training.data.figure_styles import draw_styled, photo_crop, vary_shape
from training.data.render import draw_figure, sample_style
from training.data.scene import background, finish, sample_occluder, visibility_flags


@dataclass(frozen=True)
class PoseConfig:
    """How the images are made; the defaults are the training distribution of the pose CNN."""

    image_size: tuple[int, int] = (128, 128)  # (H, W)
    person_height: tuple[float, float] = (0.6, 0.95)  # standing height / shorter image side, uniform range
    rotation_deg: float = 30.0  # in-plane rotation drawn uniformly from +-rotation_deg
    truncation_prob: float = 0.2  # chance to push the person partly out of the frame
    occlusion_prob: float = 0.4  # chance of 1..max_occluders occluders over the body
    max_occluders: int = 2
    occluder_size: tuple[float, float] = (0.15, 0.35)  # occluder size / person height, uniform range
    clutter: tuple[int, int] = (4, 12)  # background shapes, inclusive range
    noise_std: float = 10.0  # pixel noise sigma is uniform in [0, noise_std] per image
    blur_prob: float = 0.25

    def __post_init__(self) -> None:
        if min(self.image_size) < 16:
            raise ValueError(f"image_size must be at least 16x16, got {self.image_size}")
        if not 0 < self.person_height[0] <= self.person_height[1]:
            raise ValueError(f"person_height must be an increasing positive range, got {self.person_height}")


@dataclass(frozen=True)
class PoseSample:
    """One rendered person."""

    image: npt.NDArray[np.uint8]  # (H, W, 3) RGB
    keypoints: npt.NDArray[np.float32]  # (17, 2) continuous pixels (x, y)
    visibility: npt.NDArray[np.uint8]  # (17,) COCO flags 0 / 1 / 2
    occluder_mask: npt.NDArray[np.bool_]  # (H, W) pixels covered by occluders


@dataclass(frozen=True)
class PoseBatch:
    images: npt.NDArray[np.uint8]  # (N, H, W, 3)
    keypoints: npt.NDArray[np.float32]  # (N, 17, 2)
    visibility: npt.NDArray[np.uint8]  # (N, 17)


def place_figure(
    body: Figure,
    rng: np.random.Generator,
    size: tuple[int, int],
    person_height: tuple[float, float],
    rotation_deg: float,
    truncation_prob: float,
) -> Figure:
    """Rotate, scale and shift a body-frame figure into the image; sometimes push it past a border."""
    height, width = size
    rotated = body.transform(1.0, np.deg2rad(rng.uniform(-rotation_deg, rotation_deg)), np.zeros(2))
    points = rotated.outline_points().reshape(-1, 2)  # every frame of a sequence alike
    low, high = points.min(axis=0), points.max(axis=0)
    # Standing height sets the scale, unless the pose (arms up, legs spread) would not fit the frame.
    scale = min(
        rng.uniform(*person_height) * min(size),
        0.96 * min(width / np.ptp(points[:, 0]), height / np.ptp(points[:, 1])),
    )
    box = scale * (high - low)
    frame = np.array([width, height], dtype=np.float64)
    slack = frame - box
    centre = frame / 2 + rng.uniform(-0.5, 0.5, 2) * np.maximum(slack, 0)
    if rng.random() < truncation_prob:  # push the box 15-45 % past one border
        axis = rng.integers(2)
        centre[axis] = frame[axis] / 2 + rng.choice([-1, 1]) * (slack[axis] / 2 + rng.uniform(0.15, 0.45) * box[axis])
    return rotated.transform(scale, 0.0, centre - scale * (low + high) / 2)


def _render(rng: np.random.Generator, config: PoseConfig, augment: AugmentConfig | None) -> PoseSample:
    if augment and rng.random() < augment.clean_prob:
        augment = None
    shape = sample_shape(rng)
    if augment:
        shape = vary_shape(shape, rng, augment.shape_spread, augment.build)
    body = pose_figure(shape, sample_pose(rng))
    figure = place_figure(
        body, rng, config.image_size, config.person_height, config.rotation_deg, config.truncation_prob
    )
    style = None if augment else sample_style(rng)  # drawn before the background: the clean stream stays as it was
    if augment and rng.random() < augment.photo_prob:
        image = photo_crop(rng, config.image_size)
    else:
        image = background(rng, config.image_size, config.clutter)
    if style is not None:
        draw_figure(image, figure, style)
    elif augment is not None:
        draw_styled(image, figure, rng, augment.styles)
    mask = Image.new("L", (config.image_size[1], config.image_size[0]))
    if rng.random() < config.occlusion_prob:
        for _ in range(rng.integers(1, config.max_occluders + 1)):
            size = rng.uniform(*config.occluder_size) * figure.scale
            target = figure.keypoints[rng.integers(NUM_COCO_KEYPOINTS)]
            sample_occluder(rng, size).draw(image, mask, target + rng.uniform(-0.4, 0.4, 2) * size)
    occluded = np.asarray(mask) > 0
    pixels = finish(image, rng, config.noise_std, config.blur_prob)
    keypoints = figure.keypoints.astype(np.float32)
    visibility = visibility_flags(figure.keypoints, figure.face_hidden, occluded)
    if augment:
        pixels, keypoints, visibility = augment_image(pixels, keypoints, visibility, rng, augment)
    return PoseSample(image=pixels, keypoints=keypoints, visibility=visibility, occluder_mask=occluded)


def pose_sample(
    seed: int, index: int, config: PoseConfig | None = None, augment: AugmentConfig | None = None
) -> PoseSample:
    """Sample `index` of the stream `seed`, with its occluder mask (for inspection and tests; before augmentation's
    geometry, which moves the pixels but not this mask)."""
    return _render(np.random.default_rng([seed, index]), config or PoseConfig(), augment)


def pose_batch(
    seed: int, indices: Iterable[int], config: PoseConfig | None = None, augment: AugmentConfig | None = None
) -> PoseBatch:
    """Samples `indices` of the stream `seed` stacked into arrays, e.g. `pose_batch(0, range(10_000))`."""
    config = config or PoseConfig()
    order = [int(i) for i in indices]
    height, width = config.image_size
    batch = PoseBatch(
        images=np.empty((len(order), height, width, 3), np.uint8),
        keypoints=np.empty((len(order), NUM_COCO_KEYPOINTS, 2), np.float32),
        visibility=np.empty((len(order), NUM_COCO_KEYPOINTS), np.uint8),
    )
    for row, index in enumerate(order):  # filled in place: 20k images would not fit twice in memory
        sample = pose_sample(seed, index, config, augment)
        batch.images[row], batch.keypoints[row], batch.visibility[row] = (
            sample.image,
            sample.keypoints,
            sample.visibility,
        )
    return batch
