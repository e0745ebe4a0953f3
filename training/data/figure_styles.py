"""Ways to draw one posed figure beyond the clothed renderer: other bodies, silhouettes, textures, outlines and
stick figures of any line width, over clutter or a scene photograph.

Training draws a style per image (`AugmentConfig.styles`), so the network has to find joints from the shape of
a body rather than from one renderer's colours and outlines. Coordinates are continuous pixels, as in `scene`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFilter

from training.data.body import BodyShape, Figure
from training.data.render import Style, draw_figure, sample_style
from training.data.scene import RGB, random_colour

Drawer = Callable[[Image.Image, Figure, np.random.Generator], None]
_WHITE: RGB = (255, 255, 255)
_SEGMENT_FIELDS = ("torso", "neck", "head", "shoulder_width", "hip_width", "upper_arm", "forearm", "thigh", "shin")
# Scenes without people that the installed packages ship (no download): scikit-image's and scikit-learn's.
_SKIMAGE_SCENES = (
    "coffee",
    "chelsea",
    "rocket",
    "coins",
    "brick",
    "grass",
    "gravel",
    "moon",
    "page",
    "clock",
    "hubble_deep_field",
    "immunohistochemistry",
)
_STICK_BONES = ((5, 7), (7, 9), (6, 8), (8, 10), (11, 13), (13, 15), (12, 14), (14, 16), (5, 6), (11, 12))


def vary_shape(shape: BodyShape, rng: np.random.Generator, spread: float, build: tuple[float, float]) -> BodyShape:
    """Proportions beyond the renderer's +-10 %: each segment (and the head) by up to +-spread, limbs thinner or
    thicker by one `build` factor, so a child, a cartoon and a bodybuilder all occur."""
    values = {name: getattr(shape, name) * rng.uniform(1 - spread, 1 + spread) for name in _SEGMENT_FIELDS}
    thickness = rng.uniform(*build)
    radii = [f.name for f in dataclasses.fields(shape) if f.name.endswith("_radius")]
    values |= {name: getattr(shape, name) * thickness for name in radii}
    return dataclasses.replace(shape, **values)


@functools.lru_cache(maxsize=1)
def scene_photos() -> tuple[npt.NDArray[np.uint8], ...]:
    """RGB scene photographs shipped inside scikit-learn and scikit-image (read once, none shows a person)."""
    from skimage import data as skimage_data  # imported here: only training with photo backgrounds needs them
    from sklearn.datasets import load_sample_images

    photos = list(load_sample_images().images)
    for name in _SKIMAGE_SCENES:
        image = np.asarray(getattr(skimage_data, name)())
        photos.append(np.repeat(image[..., None], 3, axis=-1) if image.ndim == 2 else image[..., :3])
    return tuple(np.ascontiguousarray(photo, dtype=np.uint8) for photo in photos)


def photo_crop(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A random crop (20-100 % of the shorter side) of a random scene photo, resized to (H, W), maybe mirrored."""
    height, width = size
    photos = scene_photos()
    photo = photos[rng.integers(len(photos))]
    side = int(rng.uniform(0.2, 1.0) * min(photo.shape[:2]))
    top = int(rng.integers(0, photo.shape[0] - side + 1))
    left = int(rng.integers(0, photo.shape[1] - side + 1))
    crop = Image.fromarray(photo[top : top + side, left : left + side]).resize((width, height))
    return crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else crop


def _texture(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """Stripes, checks, coarse noise or a photo crop: what a patterned shirt or a costume could look like."""
    height, width = size
    kind = rng.integers(4)
    if kind == 3:
        return photo_crop(rng, size)
    if kind == 2:
        coarse = rng.integers(0, 256, (int(rng.integers(4, 17)),) * 2 + (3,), dtype=np.uint8)
        return Image.fromarray(coarse).resize((width, height), Image.Resampling.NEAREST)
    a, b = np.array(random_colour(rng)), np.array(random_colour(rng))
    period, angle = rng.uniform(3, 12), rng.uniform(0, np.pi)
    ys, xs = np.mgrid[0:height, 0:width]
    u = (np.cos(angle) * xs + np.sin(angle) * ys) // period
    v = (-np.sin(angle) * xs + np.cos(angle) * ys) // period
    pattern = (u % 2).astype(bool) if kind == 0 else ((u + v) % 2).astype(bool)
    return Image.fromarray(np.where(pattern[..., None], a, b).astype(np.uint8))


def figure_mask(figure: Figure, size: tuple[int, int]) -> Image.Image:
    """The pixels the clothed renderer would cover, as an "L" mask."""
    canvas = Image.new("RGB", (size[1], size[0]))
    draw_figure(canvas, figure, Style(*([_WHITE] * len(dataclasses.fields(Style)))))
    return Image.fromarray((np.asarray(canvas).max(axis=-1) > 0).astype(np.uint8) * 255)


def _clothed(image: Image.Image, figure: Figure, rng: np.random.Generator) -> None:
    draw_figure(image, figure, sample_style(rng))


def _silhouette(image: Image.Image, figure: Figure, rng: np.random.Generator) -> None:
    image.paste(random_colour(rng), (0, 0), figure_mask(figure, (image.height, image.width)))


def _textured(image: Image.Image, figure: Figure, rng: np.random.Generator) -> None:
    size = (image.height, image.width)
    image.paste(_texture(rng, size), (0, 0), figure_mask(figure, size))


def _outline(image: Image.Image, figure: Figure, rng: np.random.Generator) -> None:
    """Only the contour of the body, 1-4 pixels wide: a line drawing with the inside left empty."""
    mask = figure_mask(figure, (image.height, image.width))
    grown = mask.filter(ImageFilter.MaxFilter(2 * int(rng.integers(1, 3)) + 1))
    edge = np.asarray(grown).astype(np.int16) - np.asarray(mask.filter(ImageFilter.MinFilter(3)))
    image.paste(random_colour(rng), (0, 0), Image.fromarray((edge > 0).astype(np.uint8) * 255))


def _stick(image: Image.Image, figure: Figure, rng: np.random.Generator) -> None:
    """Lines between the joints, a spine, a neck and a round head; one colour or one per bone, any line width."""
    draw = ImageDraw.Draw(image)
    k = figure.keypoints
    width = max(1, round(rng.uniform(0.008, 0.06) * figure.scale))
    base = random_colour(rng)
    per_bone = rng.random() < 0.3

    def line(p: npt.NDArray[np.float64], q: npt.NDArray[np.float64]) -> None:
        colour = random_colour(rng) if per_bone else base
        draw.line([(float(p[0]), float(p[1])), (float(q[0]), float(q[1]))], fill=colour, width=width)
        for x, y in (p, q):  # round ends, so joints look like joints at any width
            r = width / 2
            draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)

    shoulders, hips = (k[5] + k[6]) / 2, (k[11] + k[12]) / 2
    for a, b in _STICK_BONES:
        line(k[a], k[b])
    line(shoulders, hips)
    line(shoulders, figure.head_centre)
    for side in (0, 1):
        if rng.random() < 0.5:
            line(k[9 + side], figure.hand_tips[side])
            line(k[15 + side], figure.toe_tips[side])
    radius = figure.shape.head * figure.scale
    x, y = figure.head_centre
    box = (x - radius, y - radius, x + radius, y + radius)
    if rng.random() < 0.5:
        draw.ellipse(box, fill=base)
    else:
        draw.ellipse(box, outline=base, width=width)
        for point, hidden in zip(k[1:3], figure.face_hidden[1:3], strict=True):  # eyes, where they face us
            if not hidden and rng.random() < 0.7:
                r = max(1.0, 0.12 * radius)
                draw.ellipse((point[0] - r, point[1] - r, point[0] + r, point[1] + r), fill=base)


DRAWERS: dict[str, Drawer] = {
    "clothed": _clothed,
    "silhouette": _silhouette,
    "textured": _textured,
    "outline": _outline,
    "stick": _stick,
}


def draw_styled(image: Image.Image, figure: Figure, rng: np.random.Generator, styles: dict[str, float]) -> str:
    """Draw the figure in a style picked by weight from `styles`; returns its name."""
    unknown = set(styles) - set(DRAWERS)
    if unknown:
        raise ValueError(f"unknown drawing styles {sorted(unknown)}; known: {sorted(DRAWERS)}")
    names = sorted(styles)
    weights = np.array([styles[name] for name in names], dtype=np.float64)
    name = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    DRAWERS[name](image, figure, rng)
    return name
