"""Draw predicted skeletons on the uploaded image (the `Accept: image/png` answer of the pose endpoint)."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw

from service.tasks.pose import Keypoints

EDGE_COLOUR = (0, 220, 255)
POINT_COLOUR = (255, 60, 60)


def draw_skeleton(
    image: Image.Image, keypoints: Keypoints, edges: Sequence[tuple[int, int]], min_confidence: float = 0.0
) -> Image.Image:
    """A copy of `image` with edges and points whose confidence reaches `min_confidence`; sizes follow the image."""
    canvas = image.convert("RGB")
    draw = ImageDraw.Draw(canvas)
    width = max(1, round(max(canvas.size) / 150))
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
