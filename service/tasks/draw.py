"""Draw predicted skeletons on the uploaded image (the `Accept: image/png` answer of the pose endpoint)."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw

from modelcard import ModelCard
from service.tasks.pose import ImagePoses, Keypoints, skeleton

EDGE_COLOUR = (0, 220, 255)
POINT_COLOUR = (255, 60, 60)
BOX_COLOUR = (255, 200, 0)


def draw_people(poses: ImagePoses, card: ModelCard, min_confidence: float = 0.0) -> Image.Image:
    """The upload with everyone found in it drawn: each person's box (when the request gave boxes) and skeleton."""
    assert poses.image is not None  # the pose endpoint keeps the decoded upload for drawing
    canvas = poses.image.convert("RGB")
    for person in poses.people:
        if person.box is not None:
            x, y, w, h = person.box
            ImageDraw.Draw(canvas).rectangle([x, y, x + w, y + h], outline=BOX_COLOUR, width=_line_width(canvas))
        canvas = draw_skeleton(canvas, person, skeleton(card, len(person.confidence)), min_confidence)
    return canvas


def _line_width(image: Image.Image) -> int:
    return max(1, round(max(image.size) / 150))


def draw_skeleton(
    image: Image.Image, keypoints: Keypoints, edges: Sequence[tuple[int, int]], min_confidence: float = 0.0
) -> Image.Image:
    """A copy of `image` with edges and points whose confidence reaches `min_confidence`; sizes follow the image."""
    canvas = image.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    width = _line_width(canvas)
    radius = width + 1
    shown = keypoints.confidence >= min_confidence
    points = keypoints.points - 0.5  # continuous coordinates -> Pillow's pixel indices
    for a, b in edges:
        if shown[a] and shown[b]:
            (xa, ya), (xb, yb) = points[a], points[b]
            draw.line([(float(xa), float(ya)), (float(xb), float(yb))], fill=EDGE_COLOUR, width=width)
    for (x, y), visible in zip(points, shown, strict=True):
        if visible:
            box = [float(x) - radius, float(y) - radius, float(x) + radius, float(y) + radius]
            draw.ellipse(box, fill=POINT_COLOUR)
    return canvas
