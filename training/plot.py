"""A loss-curve PNG drawn with Pillow, so training needs no plotting library."""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

SERIES_COLOURS = {"train_loss": (31, 119, 180), "val_loss": (255, 127, 14)}


def plot_losses(history: list[dict[str, float]], path: Path, size: tuple[int, int] = (640, 400)) -> Path:
    """Train and validation loss per epoch on a log scale, with the best validation epoch marked."""
    width, height = size
    margin_left, margin_right, margin_top, margin_bottom = 70, 20, 30, 40
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    values = [math.log10(max(entry[key], 1e-12)) for entry in history for key in SERIES_COLOURS]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    high = high if high > low else low + 1.0
    epochs = max(len(history) - 1, 1)

    def point(epoch: int, loss: float) -> tuple[float, float]:
        x = margin_left + (width - margin_left - margin_right) * epoch / epochs
        y = margin_top + (height - margin_top - margin_bottom) * (high - math.log10(max(loss, 1e-12))) / (high - low)
        return x, y

    draw.rectangle([margin_left, margin_top, width - margin_right, height - margin_bottom], outline="black")
    for fraction in (0.0, 0.5, 1.0):
        label = 10 ** (high - fraction * (high - low))
        y = margin_top + fraction * (height - margin_top - margin_bottom)
        draw.text((4, y - 6), f"{label:.3g}", fill="black")
    draw.text(
        (margin_left, height - margin_bottom + 10), f"epoch 0 .. {len(history) - 1} (loss, log scale)", fill="black"
    )
    for key, colour in SERIES_COLOURS.items():
        points = [point(i, entry[key]) for i, entry in enumerate(history)]
        if len(points) > 1:
            draw.line(points, fill=colour, width=2)
        for x, y in points:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        draw.text((width - margin_right - 90, margin_top + 8 + 14 * list(SERIES_COLOURS).index(key)), key, fill=colour)
    if history:
        best = min(range(len(history)), key=lambda i: history[i]["val_loss"])
        x, y = point(best, history[best]["val_loss"])
        draw.ellipse([x - 5, y - 5, x + 5, y + 5], outline=(214, 39, 40), width=2)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path
