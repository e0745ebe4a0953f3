"""The peer benchmark's PNG: its size, and one line per measured row in each panel, in that row's colour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks import plot


def colours_in_panels(image: Image.Image) -> list[set[tuple[int, int, int]]]:
    """The palette colours found inside each plotting area (the legend is outside them)."""
    found = []
    for box in plot.panel_boxes(image.size):
        pixels = {colour for _, colour in image.crop(box).getcolors(maxcolors=1 << 24) or []}
        found.append({colour for colour in plot.PALETTE if colour in pixels})
    return found


def test_png_has_the_asked_size_and_one_line_per_row(peer_results: dict[str, Any], tmp_path: Path) -> None:
    path = plot.write_png(peer_results, tmp_path / "peers.png", size=(900, 500))
    with Image.open(path) as image:
        assert image.size == (900, 500)
        panels = colours_in_panels(image.convert("RGB"))
    lines = [row for row in peer_results["rows"] if row["key"] != "v2_binary_latency"]  # one client count: no line
    assert panels == [set(plot.PALETTE[: len(lines)])] * 2  # throughput and p99, each row once, no stray colour


def test_a_skipped_row_draws_no_line(peer_results: dict[str, Any], tmp_path: Path) -> None:
    peer_results["rows"][-1]["cells"] = {}  # PyTriton skipped
    path = plot.write_png(peer_results, tmp_path / "peers.png")
    with Image.open(path) as image:
        assert image.size == plot.SIZE
        panels = colours_in_panels(image.convert("RGB"))
    assert panels == [set(plot.PALETTE[:5])] * 2


def test_a_run_at_one_client_count_draws_every_row(peer_results: dict[str, Any], tmp_path: Path) -> None:
    peer_results["plan"]["clients"] = [1]
    for row in peer_results["rows"]:
        row["cells"] = {"1": row["cells"]["1"]}
    path = plot.write_png(peer_results, tmp_path / "peers.png")
    with Image.open(path) as image:
        panels = colours_in_panels(image.convert("RGB"))
    assert panels == [set(plot.PALETTE)] * 2  # seven rows, the palette's six colours, the seventh reusing the first


def test_each_line_joins_its_points() -> None:
    """A single row rising from (1, 0) to (64, top): its colour is on the panel's diagonal between the ends."""
    image = plot.figure({"row": [(1, 0.0), (64, 100.0)]}, {"row": [(1, 1.0), (64, 1.0)]}, reference=None)
    left, top, right, bottom = plot.panel_boxes(image.size)[0]
    middle = image.getpixel(((left + right) // 2, (top + bottom) // 2))
    assert middle == plot.PALETTE[0]
