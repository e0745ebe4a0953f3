"""Image-level augmentation: the labels move with the pixels, and flips swap left and right."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.keypoints import COCO_FLIP_PAIRS, COCO_KEYPOINT_NAMES, NUM_COCO_KEYPOINTS, VISIBILITY_VISIBLE
from training.data.augment import (
    AugmentConfig,
    add_noise,
    affine_matrix,
    augment_image,
    blur,
    flip_permutation,
    hflip,
    jpeg,
    recolour,
    warp,
)

SIZE = 96


def _square(point: np.ndarray) -> np.ndarray:
    """A black image with a white 5x5 square centred on `point` (x, y at a pixel centre)."""
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    col, row = int(point[0]), int(point[1])
    image[row - 2 : row + 3, col - 2 : col + 3] = 255
    return image


def _centroid(image: np.ndarray) -> np.ndarray:
    weight = image[..., 0].astype(np.float64)
    rows, cols = np.mgrid[0 : image.shape[0], 0 : image.shape[1]] + 0.5
    return np.array([(cols * weight).sum(), (rows * weight).sum()]) / weight.sum()


def _points(rng: np.random.Generator) -> np.ndarray:
    return (rng.uniform(30, SIZE - 30, (NUM_COCO_KEYPOINTS, 2)).astype(np.int64) + 0.5).astype(np.float32)


def test_flip_permutation_follows_the_names_and_matches_the_coco_pairs() -> None:
    order = flip_permutation()
    assert [order[order[k]] for k in range(NUM_COCO_KEYPOINTS)] == list(range(NUM_COCO_KEYPOINTS))
    swapped = {tuple(sorted((k, order[k]))) for k in range(NUM_COCO_KEYPOINTS) if order[k] != k}
    assert swapped == set(COCO_FLIP_PAIRS)
    for k, mirror in enumerate(order):
        assert _unsided(COCO_KEYPOINT_NAMES[k]) == _unsided(COCO_KEYPOINT_NAMES[mirror])


def _unsided(name: str) -> str:
    return name.removeprefix("left_").removeprefix("right_")


def test_hflip_mirrors_x_and_swaps_left_and_right() -> None:
    points = _points(np.random.default_rng(0))
    visibility = np.arange(NUM_COCO_KEYPOINTS, dtype=np.uint8) % 3
    image = _square(points[5])
    flipped, moved, flags = hflip(image, points, visibility)
    order = flip_permutation()
    for k in range(NUM_COCO_KEYPOINTS):
        np.testing.assert_allclose(moved[k], [SIZE - points[order[k], 0], points[order[k], 1]])
        assert flags[k] == visibility[order[k]]
    # The left shoulder's square now sits where the flipped right shoulder (label 6) says.
    np.testing.assert_allclose(_centroid(flipped), moved[6])
    twice = hflip(flipped, moved, flags)
    np.testing.assert_array_equal(twice[0], image)
    np.testing.assert_allclose(twice[1], points)


@pytest.mark.parametrize(
    ("angle", "scale", "shift"), [(30.0, 1.0, (0.0, 0.0)), (-20.0, 1.2, (5.0, -3.0)), (0, 0.8, (0, 0))]
)
def test_warp_moves_the_keypoints_with_the_pixels(angle: float, scale: float, shift: tuple[float, float]) -> None:
    points = _points(np.random.default_rng(1))
    flags = np.full(NUM_COCO_KEYPOINTS, VISIBILITY_VISIBLE, np.uint8)
    matrix = affine_matrix((SIZE, SIZE), angle, scale, shift)
    for k in range(0, NUM_COCO_KEYPOINTS, 4):
        warped, moved, out = warp(_square(points[k]), points, flags, matrix, (0, 0, 0))
        np.testing.assert_allclose(_centroid(warped), moved[k], atol=0.25)
        assert (out == VISIBILITY_VISIBLE).all()


def test_rotation_turns_counter_clockwise_and_scale_zooms_about_the_centre() -> None:
    right_of_centre = np.array([[SIZE / 2 + 10, SIZE / 2]], np.float32)
    flags = np.full(1, VISIBILITY_VISIBLE, np.uint8)
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    _, turned, _ = warp(image, right_of_centre, flags, affine_matrix((SIZE, SIZE), 90, 1.0, (0, 0)), (0, 0, 0))
    np.testing.assert_allclose(turned[0], [SIZE / 2, SIZE / 2 - 10], atol=1e-4)  # y points down: up on screen
    _, zoomed, _ = warp(image, right_of_centre, flags, affine_matrix((SIZE, SIZE), 0, 2.0, (0, 0)), (0, 0, 0))
    np.testing.assert_allclose(zoomed[0], [SIZE / 2 + 20, SIZE / 2], atol=1e-4)


def test_points_leaving_the_frame_become_unlabelled() -> None:
    points = np.array([[10.0, 48.0], [48.0, 48.0]], np.float32)
    flags = np.full(2, VISIBILITY_VISIBLE, np.uint8)
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    _, moved, out = warp(image, points, flags, affine_matrix((SIZE, SIZE), 0, 1.0, (-20, 0)), (9, 9, 9))
    assert moved[0, 0] < 0
    assert out.tolist() == [0, VISIBILITY_VISIBLE]


def test_photometric_steps_keep_shape_and_change_pixels() -> None:
    rng = np.random.default_rng(2)
    image = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    for changed in (blur(image, 1.0), add_noise(image, rng, 10.0), jpeg(image, 20), recolour(image, rng)):
        assert changed.shape == image.shape
        assert changed.dtype == np.uint8
        assert not np.array_equal(changed, image)


def test_augment_image_is_deterministic_given_the_generator() -> None:
    points = _points(np.random.default_rng(3))
    image = _square(points[0])
    flags = np.full(NUM_COCO_KEYPOINTS, VISIBILITY_VISIBLE, np.uint8)
    first, again = (augment_image(image, points, flags, np.random.default_rng(7), AugmentConfig()) for _ in range(2))
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_unknown_or_empty_style_weights_fail_fast() -> None:
    with pytest.raises(ValueError, match="styles"):
        AugmentConfig(styles={})
    with pytest.raises(ValueError, match="styles"):
        AugmentConfig(styles={"stick": -1.0})
