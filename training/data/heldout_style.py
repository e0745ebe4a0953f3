"""A second renderer, for evaluation only: cartoon mannequins of smooth filled ellipses on a sky-and-ground scene.

It measures whether the pose CNN learned bodies or just its own renderer, so nothing on the training data path
imports it (tests/training check), and its style differs from `render` and `figure_styles` on purpose: larger
heads and shorter legs, limbs as fat ellipses with no outline, anti-aliased edges (drawn at 3x and downsampled),
flat pastel colours, and a backdrop of gradients and soft discs that training never draws. Only the skeleton
(`body`'s kinematics) is shared, so the keypoints mean the same joints. Sample `i` depends on (seed, i) alone.
"""

from __future__ import annotations

import dataclasses
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

from evaluation.keypoints import NUM_COCO_KEYPOINTS
from training.data.body import BodyShape, Figure, FloatArray, pose_figure, sample_pose
from training.data.scene import visibility_flags

HELDOUT_SEED: Final = 4242  # the held-out test stream; no training seed draws from this generator
HELDOUT_SAMPLES: Final = 500
_SUPERSAMPLE: Final = 3
_CARTOON: Final = BodyShape(
    torso=0.3, neck=0.12, head=0.09, shoulder_width=0.23, hip_width=0.16, upper_arm=0.17, forearm=0.15,
    hand=0.05, thigh=0.22, shin=0.21, foot=0.09,
)  # fmt: skip
_PASTELS: Final = np.array(
    [[244, 143, 177], [129, 212, 250], [165, 214, 167], [255, 224, 130], [206, 147, 216], [255, 171, 145]]
)
_LIMBS: Final = ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16))


@dataclasses.dataclass(frozen=True)
class HeldoutBatch:
    images: npt.NDArray[np.uint8]  # (N, H, W, 3)
    keypoints: npt.NDArray[np.float32]  # (N, 17, 2) continuous pixels (x, y)
    visibility: npt.NDArray[np.uint8]  # (N, 17)


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    r, g, b = np.clip(_PASTELS[rng.integers(len(_PASTELS))] + rng.integers(-20, 21, 3), 0, 255).tolist()
    return r, g, b


def _backdrop(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A sky gradient over a ground band, with a few blurred discs (soft light, distant trees)."""
    height, width = size
    top, bottom, ground = (rng.integers(60, 256, 3) for _ in range(3))
    horizon = int(rng.uniform(0.5, 0.85) * height)
    t = np.linspace(0, 1, height)[:, None, None]
    sky = (1 - t) * top + t * bottom
    pixels = np.broadcast_to(sky, (height, width, 3)).copy()
    pixels[horizon:] = ground * np.linspace(0.8, 1.1, height - horizon)[:, None, None]
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(2, 7))):
        x, y, r = rng.uniform(0, width), rng.uniform(0, horizon), rng.uniform(0.05, 0.2) * width
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(fill[0], fill[1], fill[2]))
    return image.filter(ImageFilter.GaussianBlur(2.5))


def _segment(draw: ImageDraw.ImageDraw, p: FloatArray, q: FloatArray, half_width: float, fill: tuple[int, ...]) -> None:
    """A filled ellipse from p to q (a little past both), `half_width` across."""
    centre, axis = (p + q) / 2, q - p
    length = max(float(np.hypot(*axis)), 1e-6)
    along, across = axis / length, np.array([-axis[1], axis[0]]) / length
    angles = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    a = length / 2 + 0.6 * half_width
    outline = centre + np.cos(angles)[:, None] * a * along + np.sin(angles)[:, None] * half_width * across
    draw.polygon([(float(x), float(y)) for x, y in outline], fill=fill)


def _disc(draw: ImageDraw.ImageDraw, centre: FloatArray, radius: float, fill: tuple[int, ...]) -> None:
    x, y = float(centre[0]), float(centre[1])
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=fill)


def _draw(image: Image.Image, figure: Figure, rng: np.random.Generator) -> Image.Image:
    """The mannequin at 3x resolution, downsampled onto the backdrop for smooth edges."""
    big = image.resize((image.width * _SUPERSAMPLE, image.height * _SUPERSAMPLE), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(big)
    s = _SUPERSAMPLE
    k, px = figure.keypoints * s, figure.scale * s
    body, limbs, head = _colour(rng), _colour(rng), _colour(rng)
    chubby = rng.uniform(0.04, 0.065) * px
    for a, b in _LIMBS[4:]:
        _segment(draw, k[a], k[b], chubby * 1.2, limbs)
    for side in (0, 1):
        _segment(draw, k[15 + side], figure.toe_tips[side] * s, 0.6 * chubby, body)
    shoulders, hips = (k[5] + k[6]) / 2, (k[11] + k[12]) / 2
    torso_width = 0.5 * float(np.hypot(*(k[5] - k[6]))) + chubby
    _segment(draw, shoulders, hips, max(torso_width, 1.5 * chubby), body)
    for a, b in _LIMBS[:4]:
        _segment(draw, k[a], k[b], chubby, limbs)
    for side in (0, 1):
        _disc(draw, figure.hand_tips[side] * s, 1.1 * chubby, head)
    radius = figure.shape.head * px
    _disc(draw, figure.head_centre * s, radius, head)
    for index in range(5):
        if not figure.face_hidden[index]:
            dot = (0.1 if index else 0.08) * radius
            _disc(draw, k[index], dot, (30, 30, 40) if index in (1, 2) else (200, 80, 80))
    return big.resize(image.size, Image.Resampling.LANCZOS)


def _place(body: Figure, rng: np.random.Generator, size: tuple[int, int]) -> Figure:
    """Upright within +-15 degrees, 50-85 % of the frame tall, always whole inside it."""
    height, width = size
    turned = body.transform(1.0, np.deg2rad(rng.uniform(-15, 15)), np.zeros(2))
    points = turned.outline_points()
    low, high = points.min(axis=0), points.max(axis=0)
    fit = 0.9 * min(width / np.ptp(points[:, 0]), height / np.ptp(points[:, 1]))
    scale = min(rng.uniform(0.5, 0.85) * min(size), fit)
    slack = np.array([width, height]) - scale * (high - low)
    corner = rng.uniform(0.1, 0.9, 2) * slack - scale * low
    return turned.transform(scale, 0.0, corner)


def heldout_sample(
    seed: int, index: int, size: tuple[int, int]
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
    """(image (H, W, 3), keypoints (17, 2) in pixels, COCO visibility (17,)) of sample `index` of stream `seed`."""
    rng = np.random.default_rng([seed, index])
    jitter = {f.name: getattr(_CARTOON, f.name) * rng.uniform(0.95, 1.05) for f in dataclasses.fields(_CARTOON)}
    figure = _place(pose_figure(BodyShape(**jitter), sample_pose(rng)), rng, size)
    image = _draw(_backdrop(rng, size), figure, rng)
    flags = visibility_flags(figure.keypoints, figure.face_hidden, np.zeros(size, dtype=bool))
    return np.asarray(image), figure.keypoints.astype(np.float32), flags


def heldout_batch(size: tuple[int, int], count: int = HELDOUT_SAMPLES, seed: int = HELDOUT_SEED) -> HeldoutBatch:
    """The held-out test set: `count` images of (H, W) `size`, the same on every call."""
    samples = [heldout_sample(seed, index, size) for index in range(count)]
    return HeldoutBatch(
        images=np.stack([s[0] for s in samples]).reshape(count, *size, 3),
        keypoints=np.stack([s[1] for s in samples]).reshape(count, NUM_COCO_KEYPOINTS, 2),
        visibility=np.stack([s[2] for s in samples]).reshape(count, NUM_COCO_KEYPOINTS),
    )
