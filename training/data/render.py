"""Pillow drawing of a posed figure: tapered, outlined limbs whose round ends are centred on the joints.

Adjacent segments differ in colour and each segment's outline is drawn over its parent, so every joint shows
as the centre of a circular arc at a colour boundary: the keypoints are defined by the pixels, not only by the
skeleton. Coordinates are continuous pixels, as in `scene`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from training.data.body import HEAD_ASPECT, Figure, FloatArray, rotate
from training.data.scene import RGB, UNIT_CIRCLE, as_points, random_colour

Point = tuple[float, float]
_EYE: RGB = (15, 15, 20)
_SKIN_TONES: tuple[RGB, ...] = (
    (255, 224, 196),
    (234, 192, 160),
    (198, 146, 110),
    (141, 85, 54),
    (94, 58, 36),
)
_HAIR_TONES: tuple[RGB, ...] = ((20, 16, 14), (70, 45, 25), (120, 80, 40), (200, 170, 110), (150, 150, 150))


@functools.lru_cache(maxsize=4096)
def shade(colour: RGB, factor: float) -> RGB:
    """Darker (factor < 1) or lighter (> 1, mixed towards white) version of a colour."""
    mixed = [c * factor if factor <= 1 else c + (255 - c) * (factor - 1) for c in colour]
    r, g, b = (min(255, max(0, int(c))) for c in mixed)
    return r, g, b


@dataclass(frozen=True)
class Style:
    """Colours of one person; forearms and shins always differ from the segment above them."""

    skin: RGB
    hair: RGB
    shirt: RGB
    forearm: RGB  # skin for short sleeves, a shade of the shirt for long ones
    trousers: RGB
    shin: RGB  # skin for shorts, a shade of the trousers otherwise
    shoe: RGB


def sample_style(rng: np.random.Generator) -> Style:
    skin = shade(_SKIN_TONES[rng.integers(len(_SKIN_TONES))], float(rng.uniform(0.85, 1.1)))
    shirt, trousers = random_colour(rng), random_colour(rng)
    return Style(
        skin=skin,
        hair=shade(_HAIR_TONES[rng.integers(len(_HAIR_TONES))], float(rng.uniform(0.8, 1.15))),
        shirt=shirt,
        forearm=skin if rng.random() < 0.5 else shade(shirt, float(rng.choice([0.6, 1.4]))),
        trousers=trousers,
        shin=skin if rng.random() < 0.3 else shade(trousers, float(rng.choice([0.6, 1.4]))),
        shoe=random_colour(rng),
    )


def _disc(draw: ImageDraw.ImageDraw, centre: Point, radius: float, fill: RGB) -> None:
    x, y = centre
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=fill)


def _capsule(draw: ImageDraw.ImageDraw, p0: Point, p1: Point, r0: float, r1: float, fill: RGB) -> None:
    """A tapered limb from p0 (radius r0) to p1 (radius r1) with round ends, outlined one pixel darker."""
    (x0, y0), (x1, y1) = p0, p1
    length = max(math.hypot(x1 - x0, y1 - y0), 1e-6)
    nx, ny = (y0 - y1) / length, (x1 - x0) / length
    for extra, colour in ((1.0, shade(fill, 0.55)), (0.0, fill)):
        a, b = r0 + extra, r1 + extra
        corners = [(x0 + a * nx, y0 + a * ny), (x1 + b * nx, y1 + b * ny), (x1 - b * nx, y1 - b * ny)]
        draw.polygon([*corners, (x0 - a * nx, y0 - a * ny)], fill=colour)
        _disc(draw, p0, a, colour)
        _disc(draw, p1, b, colour)


def _ellipse(centre: FloatArray, rx: float, ry: float, angle: float) -> list[Point]:
    return as_points(centre + rotate(UNIT_CIRCLE * [rx, ry], angle))


def _draw_head(draw: ImageDraw.ImageDraw, figure: Figure, style: Style) -> None:
    """Hair-coloured head, a skin face patch shifted towards the nose, and dots on the visible face points."""
    radius = figure.shape.head * figure.scale
    angle = float(figure.head_angle)
    centre, nose = figure.head_centre, figure.keypoints[0]
    draw.polygon(_ellipse(centre, HEAD_ASPECT * radius + 1, radius + 1, angle), fill=shade(style.hair, 0.55))
    draw.polygon(_ellipse(centre, HEAD_ASPECT * radius, radius, angle), fill=style.hair)
    turned = math.sqrt(max(0.0, 1.0 - float(figure.face_depth[0]) ** 2))  # |sin(head yaw)|
    face = _ellipse(centre + 0.45 * (nose - centre), HEAD_ASPECT * radius * (0.8 - 0.25 * turned), 0.75 * radius, angle)
    draw.polygon(face, fill=style.skin)
    hidden = figure.face_hidden.tolist()
    points: list[Point] = [(x, y) for x, y in figure.keypoints[:5].tolist()]
    for k in (3, 4):  # ears
        if not hidden[k]:
            _disc(draw, points[k], 0.3 * radius + 1, shade(style.skin, 0.55))
            _disc(draw, points[k], 0.3 * radius, style.skin)
    dot = max(0.8, 0.14 * radius)
    for k, colour in ((0, shade(style.skin, 0.55)), (1, _EYE), (2, _EYE)):
        if not hidden[k]:
            _disc(draw, points[k], dot, colour)


def draw_figure(image: Image.Image, figure: Figure, style: Style) -> None:
    """Draw one posed figure (no leading axes) in image pixels; a turned body puts its far limbs behind."""
    draw = ImageDraw.Draw(image)
    k: list[Point] = [(x, y) for x, y in figure.keypoints.tolist()]
    hands: list[Point] = [(x, y) for x, y in figure.hand_tips.tolist()]
    toes: list[Point] = [(x, y) for x, y in figure.toe_tips.tolist()]
    shape, px = figure.shape, figure.scale
    r_arm, r_fore = shape.arm_radius * px, shape.forearm_radius * px
    r_thigh, r_shin = shape.thigh_radius * px, shape.shin_radius * px

    def arm(side: int) -> None:
        _capsule(draw, k[5 + side], k[7 + side], r_arm, 1.1 * r_fore, style.shirt)
        _capsule(draw, k[7 + side], k[9 + side], r_fore, 0.8 * r_fore, style.forearm)
        _capsule(draw, k[9 + side], hands[side], 0.8 * r_fore, 1.1 * r_fore, style.skin)

    def leg(side: int) -> None:
        _capsule(draw, k[11 + side], k[13 + side], r_thigh, 1.15 * r_shin, style.trousers)
        _capsule(draw, k[13 + side], k[15 + side], r_shin, 0.75 * r_shin, style.shin)
        _capsule(draw, k[15 + side], toes[side], 0.7 * r_shin, 0.7 * r_shin, style.shoe)

    def torso() -> None:
        points = figure.keypoints
        neck_radius = 0.35 * shape.head * px
        neck_base, head = (points[5] + points[6]) / 2, figure.head_centre
        neck = (float(neck_base[0]), float(neck_base[1])), (float(head[0]), float(head[1]))
        _capsule(draw, *neck, neck_radius, neck_radius, style.skin)
        across, hips = _unit(points[5] - points[6]), _unit(points[11] - points[12])
        corners = [points[5] + r_arm * across, points[6] - r_arm * across]
        corners += [points[12] - r_thigh * hips, points[11] + r_thigh * hips]
        draw.polygon(as_points(np.stack(corners)), fill=style.shirt, outline=shade(style.shirt, 0.55), width=1)

    sideways = float(np.sin(figure.body_yaw))
    steps: list[Callable[[], None]]
    if abs(sideways) < 0.5:
        steps = [lambda: leg(0), lambda: leg(1), torso, lambda: arm(0), lambda: arm(1)]
    else:
        far = 0 if sideways > 0 else 1  # turned towards +x puts the left side away from the viewer
        steps = [lambda: arm(far), lambda: leg(far), torso, lambda: leg(1 - far), lambda: arm(1 - far)]
    for step in steps:
        step()
    _draw_head(draw, figure, style)


def _unit(vector: FloatArray) -> FloatArray:
    return vector / max(float(np.hypot(*vector)), 1e-6)
