"""Ways to draw one posed figure beyond the clothed renderer: other bodies, silhouettes, textures, outlines,
stick figures of any line width and plump smooth cartoons, over clutter or a scene photograph.

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

from training.data.body import BodyShape, Figure, FloatArray
from training.data.render import Style, draw_figure, sample_style, shade
from training.data.scene import RGB, as_points, random_colour

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


def _muted(rng: np.random.Generator) -> RGB:
    """A random colour, often mixed towards white or grey: pastel and dull fabrics as well as loud ones."""
    colour = np.array(random_colour(rng), dtype=np.float64)
    if rng.random() < 0.6:
        colour += rng.uniform(0.2, 0.7) * (rng.choice([255.0, 128.0]) - colour)
    r, g, b = (int(v) for v in colour)
    return r, g, b


def _swollen(p: FloatArray, q: FloatArray, radius: float, rng: np.random.Generator) -> list[tuple[float, float]]:
    """Outline of a limb from joint p to joint q whose width varies along it: padded sleeves, puffy trousers,
    tapering or swelling flesh. A superellipse profile (exponent 1.5-4: pointed to boxy) reaching `radius` at its
    widest, running 0.3-1 radius past both joints, thicker at one end by up to +-40 %. It runs further where
    needed to keep 40 % of the width at the joints, so a joint never sits on a vanishing tip."""
    axis = q - p
    length = max(float(np.hypot(*axis)), 1e-6)
    along, across = axis / length, np.array([-axis[1], axis[0]]) / length
    power, taper = rng.uniform(1.5, 4.0), rng.uniform(-0.4, 0.4)
    joint_at = (1 - 0.4**power) ** (1 / power)  # |2t - 1| where the profile is 40 % wide
    over = max(rng.uniform(0.3, 1.0) * radius, length * (1 / joint_at - 1) / 2)
    t = np.linspace(0.0, 1.0, 17)
    width = radius * (1 - np.abs(2 * t - 1) ** power) ** (1 / power) * (1 + taper * (1 - 2 * t))
    s = -over + t * (length + 2 * over)
    side = p + s[:, None] * along
    points = np.concatenate([side + width[:, None] * across, (side - width[:, None] * across)[::-1]])
    return as_points(points)


def _coat(figure: Figure, radius: float, rng: np.random.Generator) -> list[tuple[float, float]]:
    """The trunk as one rounded body from the shoulders to below the hips: a coat, a dress, a round belly."""
    k = figure.keypoints
    shoulders, hips = (k[5] + k[6]) / 2, (k[11] + k[12]) / 2
    half = 0.5 * float(np.hypot(*(k[5] - k[6]))) + radius * rng.uniform(0.5, 1.5)
    return _swollen(shoulders, hips + rng.uniform(0.0, 0.6) * (hips - shoulders), max(half, radius), rng)


def _puffy(image: Image.Image, figure: Figure, rng: np.random.Generator) -> None:
    """A plump cartoon: swollen limbs of varying width, a trunk that may swallow the hips, flat colours with
    or without a dark edge, often drawn smooth (supersampled) and over an out-of-focus backdrop."""
    if rng.random() < 0.5:  # shallow depth of field: the scene behind is soft
        image.paste(image.filter(ImageFilter.GaussianBlur(rng.uniform(1.5, 5.0))))
    factor = 3 if rng.random() < 0.7 else 1
    canvas = image.resize((image.width * factor, image.height * factor)) if factor > 1 else image
    draw = ImageDraw.Draw(canvas)
    px = figure.scale * factor
    k = figure.keypoints * factor
    radius = rng.uniform(0.03, 0.075) * px  # limb half-width at its widest
    scheme = rng.integers(3)  # one colour, trunk / limbs / head, or one per segment
    base = [_muted(rng) for _ in range(3)]
    edge = rng.random() < 0.3
    edge_width = max(1.0, rng.uniform(0.5, 1.5) * factor)

    def colour(part: int) -> RGB:
        return base[0] if scheme == 0 else base[part] if scheme == 1 else _muted(rng)

    def shape(points: list[tuple[float, float]], fill: RGB) -> None:
        draw.polygon(points, fill=fill, outline=shade(fill, 0.45) if edge else None, width=round(edge_width))

    def limb(a: FloatArray, b: FloatArray, r: float, part: int) -> None:
        shape(_swollen(a, b, r, rng), colour(part))

    def blob(centre: FloatArray, rx: float, ry: float, part: int) -> RGB:
        x, y = float(centre[0]), float(centre[1])
        fill = colour(part)
        draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=fill, outline=shade(fill, 0.45) if edge else None)
        return fill

    legs = rng.uniform(1.0, 1.4)
    for side in (0, 1):
        limb(k[11 + side], k[13 + side], legs * radius, 1)
        limb(k[13 + side], k[15 + side], legs * radius * rng.uniform(0.8, 1.1), 1)
        limb(k[15 + side], figure.toe_tips[side] * factor, 0.6 * radius, 0)
    if rng.random() < 0.6:
        shape(_coat(dataclasses.replace(figure, keypoints=k), radius, rng), colour(0))
    else:
        trunk = np.stack([k[5], k[6], k[12], k[11]])
        centre = trunk.mean(axis=0)
        shape(as_points(centre + (trunk - centre) * rng.uniform(1.1, 1.4)), colour(0))
    for side in (0, 1):
        limb(k[5 + side], k[7 + side], radius, 1)
        limb(k[7 + side], k[9 + side], radius * rng.uniform(0.7, 1.0), 1)
        if rng.random() < 0.7:
            blob(figure.hand_tips[side] * factor, 0.9 * radius, 0.9 * radius, 2)
    head = figure.shape.head * px * rng.uniform(1.0, 1.4)
    face = shade(blob(figure.head_centre * factor, head * rng.uniform(0.85, 1.0), head, 2), 0.3)
    if rng.random() < 0.7:  # eyes, nose and ears as dots where they face us
        for index in np.flatnonzero(~figure.face_hidden):
            x, y = (float(v) for v in k[index])
            dot = rng.uniform(0.06, 0.12) * head
            draw.ellipse((x - dot, y - dot, x + dot, y + dot), fill=face)
    if factor > 1:
        image.paste(canvas.resize(image.size, Image.Resampling.LANCZOS))


DRAWERS: dict[str, Drawer] = {
    "clothed": _clothed,
    "silhouette": _silhouette,
    "textured": _textured,
    "outline": _outline,
    "stick": _stick,
    "puffy": _puffy,
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
