"""The peer benchmark's picture: throughput and p99 latency against clients, one line per row, drawn with Pillow.

Pillow is already a dependency (the /v1 endpoints decode images with it); matplotlib would be one more.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

SIZE = (1200, 560)
MARGIN = (70, 40, 20, 150)  # left, top, right, bottom of each panel, in pixels; the legend sits in the bottom
PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]
REFERENCE = (128, 128, 128)  # raw onnxruntime batch 32, dashed
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Series = Mapping[str, Sequence[tuple[float, float]]]  # label -> (clients, value) points


def panel_boxes(size: tuple[int, int]) -> list[tuple[int, int, int, int]]:
    """The two plotting areas (left, top, right, bottom): throughput on the left, p99 on the right."""
    width, height = size
    half = width // 2
    left, top, right, bottom = MARGIN
    return [(x + left, top, x + half - right, height - bottom) for x in (0, half)]


def figure(throughput: Series, p99: Series, reference: float | None, size: tuple[int, int] = SIZE) -> Image.Image:
    """Both panels and one legend; the `throughput` labels name the rows and pick their colours in order."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=13)
    colours = {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(throughput)}
    clients = sorted({x for points in [*throughput.values(), *p99.values()] for x, _ in points})
    boxes = panel_boxes(size)
    references = {"raw onnxruntime batch 32": reference} if reference is not None else {}
    _panel(draw, font, boxes[0], "requests/s", throughput, colours, clients, references)
    _panel(draw, font, boxes[1], "p99 latency, ms", p99, colours, clients, {})
    _legend(draw, font, size, [*colours.items(), *((label, REFERENCE) for label in references)])
    return image


def _panel(
    draw: ImageDraw.ImageDraw,
    font: Font,
    box: tuple[int, int, int, int],
    title: str,
    series: Series,
    colours: Mapping[str, tuple[int, int, int]],
    clients: list[float],
    references: Mapping[str, float],
) -> None:
    left, top, right, bottom = box
    values = [y for points in series.values() for _, y in points if math.isfinite(y)] + list(references.values())
    top_value = _nice_ceiling(max(values, default=1.0))
    logs = [math.log2(x) for x in clients] or [0.0]
    span = (max(logs) - min(logs)) or 1.0

    def at(x: float, y: float) -> tuple[float, float]:  # log2 clients across, linear value up
        return left + (math.log2(x) - min(logs)) / span * (right - left), bottom - y / top_value * (bottom - top)

    draw.rectangle(box, outline="black")
    draw.text((left, top - 20), f"{title} vs clients", fill="black", font=font)
    draw.text(((left + right) / 2, bottom + 24), "clients (log scale)", fill="black", font=font, anchor="mt")
    for i in range(5):
        y = top_value * i / 4
        _, pixel = at(clients[0] if clients else 1, y)
        draw.line([(left - 4, pixel), (left, pixel)], fill="black")
        draw.text((left - 8, pixel), f"{y:g}", fill="black", font=font, anchor="rm")
    for x in clients:
        pixel, _ = at(x, 0)
        draw.line([(pixel, bottom), (pixel, bottom + 4)], fill="black")
        draw.text((pixel, bottom + 6), f"{x:g}", fill="black", font=font, anchor="mt")
    for value in references.values():
        _, pixel = at(clients[0] if clients else 1, value)
        for start in range(left, right, 12):
            draw.line([(start, pixel), (min(start + 6, right), pixel)], fill=REFERENCE, width=2)
    for label, points in series.items():
        drawn = [at(x, y) for x, y in sorted(points) if math.isfinite(y)]
        if len(drawn) > 1:
            draw.line(drawn, fill=colours[label], width=3)
        for px, py in drawn:
            draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=colours[label])


def _legend(
    draw: ImageDraw.ImageDraw,
    font: Font,
    size: tuple[int, int],
    entries: list[tuple[str, tuple[int, int, int]]],
) -> None:
    """Two columns of (swatch, label) under the panels, below the clients axis labels."""
    first = size[1] - MARGIN[3] + 40
    for i, (label, colour) in enumerate(entries):
        x, y = MARGIN[0] + (i % 2) * size[0] // 2, first + (i // 2) * 20
        draw.rectangle([x, y + 3, x + 24, y + 9], fill=colour)
        draw.text((x + 32, y), label, fill="black", font=font)


def _nice_ceiling(value: float) -> float:
    """1, 2 or 5 times a power of ten, at or above `value`, so the axis ticks are round numbers."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def write_png(results: dict[str, Any], path: Path, size: tuple[int, int] = SIZE) -> Path:
    """The rows of a peer run measured at every client count as `path`: skipped rows have no points, and a latency
    row (the fewest clients only) stays in the table."""
    counts = len(results["plan"]["clients"])
    measured = [row for row in results["rows"] if len(row["cells"]) == counts]

    def series(name: str) -> dict[str, list[tuple[float, float]]]:
        return {row["label"]: [(float(c), cell[name]) for c, cell in row["cells"].items()] for row in measured}

    reference = results["raw"]["32"]["samples_per_s"]
    figure(series("requests_per_s"), series("p99_ms"), reference, size).save(path)
    return path
