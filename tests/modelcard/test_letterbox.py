from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from modelcard.letterbox import fit_letterbox, letterbox_image


def test_fit_centres_the_box_and_pads_the_spare_side() -> None:
    geometry = fit_letterbox((10.0, 20.0, 200.0, 100.0), (128, 128))  # wide box into a square
    assert geometry.scale == pytest.approx(0.64)
    np.testing.assert_allclose(geometry.to_output([[10.0, 20.0], [210.0, 120.0]]), [[0, 32], [128, 96]])


def test_points_round_trip() -> None:
    geometry = fit_letterbox((-12.5, 7.25, 333.0, 91.0), (96, 64))
    points = np.random.default_rng(0).uniform(-50, 400, (20, 2))
    np.testing.assert_allclose(geometry.to_source(geometry.to_output(points)), points, atol=1e-9)


def test_invalid_box_is_refused() -> None:
    with pytest.raises(ValueError, match="positive width"):
        fit_letterbox((0.0, 0.0, 0.0, 5.0), (64, 64))


def _centroid(channel: np.ndarray, near: np.ndarray, radius: float) -> np.ndarray:
    rows, cols = np.mgrid[0 : channel.shape[0], 0 : channel.shape[1]] + 0.5  # pixel centres
    weight = channel * ((cols - near[0]) ** 2 + (rows - near[1]) ** 2 < radius**2)
    return np.array([(weight * cols).sum(), (weight * rows).sum()]) / weight.sum()


@pytest.mark.parametrize(
    ("source_size", "box"),
    [((300, 200), None), ((640, 480), (100.3, 50.7, 200.2, 300.1)), ((1000, 900), (10.0, 20.0, 900.0, 800.0))],
)
def test_image_content_lands_where_the_points_map(
    source_size: tuple[int, int], box: tuple[float, float, float, float] | None
) -> None:
    width, height = source_size
    points = np.array([[0.31 * width, 0.62 * height], [0.55 * width, 0.35 * height]])
    radius = max(source_size) / 50
    image = Image.new("RGB", source_size)
    draw = ImageDraw.Draw(image)
    for x, y in points:
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=(255, 255, 255))
    pixels, geometry = letterbox_image(image, (96, 128), box, fill=(0, 0, 0))
    assert pixels.shape == (96, 128, 3)
    assert pixels.dtype == np.uint8
    for expected in geometry.to_output(points):
        found = _centroid(pixels[..., 0].astype(float), expected, 2.5 * radius * geometry.scale + 2)
        np.testing.assert_allclose(found, expected, atol=0.35)


def test_padding_beyond_the_image_uses_the_fill() -> None:
    pixels, geometry = letterbox_image(Image.new("RGB", (100, 50), (255, 0, 0)), (64, 64), fill=(1, 2, 3))
    assert geometry.offset_y == pytest.approx(16.0)
    np.testing.assert_array_equal(pixels[0, 0], (1, 2, 3))
    np.testing.assert_array_equal(pixels[32, 32], (255, 0, 0))
