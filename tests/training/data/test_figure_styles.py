"""Training's drawing styles and backgrounds: each draws the body where its keypoints are, from shipped data only."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PIL import Image

from evaluation.keypoints import NUM_COCO_KEYPOINTS
from training.data import figure_styles
from training.data.augment import AugmentConfig
from training.data.body import BodyShape, pose_figure, sample_pose, sample_shape
from training.data.figure_styles import DRAWERS, draw_styled, photo_crop, scene_photos, vary_shape
from training.data.synthetic_pose import PoseConfig, place_figure, pose_batch

FLAT = (3, 250, 7)


@pytest.mark.parametrize("style", ["clothed", "silhouette", "textured", "stick", "puffy"])
def test_filled_styles_cover_every_body_keypoint(style: str) -> None:
    for seed in range(3):
        rng = np.random.default_rng(seed)
        figure = place_figure(pose_figure(sample_shape(rng), sample_pose(rng)), rng, (128, 128), (0.7, 0.9), 30, 0)
        image = Image.new("RGB", (128, 128), FLAT)
        DRAWERS[style](image, figure, rng)
        changed = (np.asarray(image) != FLAT).any(axis=-1)
        for x, y in figure.keypoints[5:]:
            assert changed[int(y), int(x)], (style, x, y)


def test_outline_draws_around_the_body_and_leaves_its_inside_empty() -> None:
    rng = np.random.default_rng(4)
    figure = place_figure(pose_figure(sample_shape(rng), sample_pose(rng)), rng, (128, 128), (0.9, 0.9), 0, 0)
    image = Image.new("RGB", (128, 128), FLAT)
    DRAWERS["outline"](image, figure, rng)
    changed = (np.asarray(image) != FLAT).any(axis=-1)
    mask = np.asarray(figure_styles.figure_mask(figure, (128, 128))) > 0
    assert changed.any()
    assert (changed & ~mask).any(), "the contour lies outside the body"
    hips = ((figure.keypoints[11] + figure.keypoints[12]) / 2).astype(int)
    assert not changed[hips[1], hips[0]], "the middle of the body stays background"


def test_puffy_is_deterministic_and_stays_on_the_figure() -> None:
    for seed in range(5):
        rng = np.random.default_rng(seed)
        figure = place_figure(pose_figure(sample_shape(rng), sample_pose(rng)), rng, (128, 128), (0.6, 0.8), 30, 0)
        images = [Image.new("RGB", (128, 128), FLAT) for _ in range(2)]
        for image in images:
            DRAWERS["puffy"](image, figure, np.random.default_rng([seed, 1]))
        first, again = (np.asarray(image) for image in images)
        np.testing.assert_array_equal(first, again)
        changed = np.argwhere((first != FLAT).any(axis=-1))[:, ::-1] + 0.5  # (x, y) pixel centres
        points = figure.outline_points()
        margin = 0.2 * figure.scale  # swollen limbs, the trunk and a larger head reach past the joints
        assert (changed >= points.min(axis=0) - margin).all()
        assert (changed <= points.max(axis=0) + margin).all()


def test_vary_shape_stays_within_its_spread() -> None:
    base = BodyShape()
    for seed in range(20):
        varied = vary_shape(base, np.random.default_rng(seed), 0.25, (0.5, 2.0))
        for field in dataclasses.fields(base):
            ratio = getattr(varied, field.name) / getattr(base, field.name)
            low, high = (0.5, 2.0) if field.name.endswith("_radius") else (0.75, 1.25)
            assert low <= ratio <= high, (field.name, ratio)


def test_scene_photos_are_shipped_rgb_scenes_without_people() -> None:
    photos = scene_photos()
    assert len(photos) == 2 + len(figure_styles._SKIMAGE_SCENES)  # scikit-learn's two, then scikit-image's
    assert not {"astronaut", "camera"} & set(figure_styles._SKIMAGE_SCENES)  # the two with a person
    for photo in photos:
        assert photo.dtype == np.uint8
        assert photo.ndim == 3
        assert photo.shape[2] == 3
    crop = photo_crop(np.random.default_rng(0), (64, 48))
    assert (crop.mode, crop.size) == ("RGB", (48, 64))


def test_draw_styled_rejects_unknown_styles() -> None:
    rng = np.random.default_rng(0)
    figure = place_figure(pose_figure(sample_shape(rng), sample_pose(rng)), rng, (64, 64), (0.8, 0.9), 0, 0)
    with pytest.raises(ValueError, match="unknown drawing styles"):
        draw_styled(Image.new("RGB", (64, 64)), figure, rng, {"watercolour": 1.0})


def test_augmented_stream_is_deterministic_and_the_clean_one_unchanged() -> None:
    augment = AugmentConfig()
    first, again = pose_batch(2, range(6), augment=augment), pose_batch(2, range(6), augment=augment)
    clean = pose_batch(2, range(6))
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.keypoints, again.keypoints)
    assert not np.array_equal(first.images, clean.images)
    np.testing.assert_array_equal(pose_batch(2, range(6), augment=None).images, clean.images)


def test_augmented_flags_are_zero_exactly_outside_the_image() -> None:
    batch = pose_batch(5, range(40), PoseConfig(truncation_prob=0.3), AugmentConfig())
    x, y = batch.keypoints[..., 0], batch.keypoints[..., 1]
    inside = (x >= 0) & (x < 128) & (y >= 0) & (y < 128)
    assert not (batch.visibility[~inside]).any()
    assert batch.keypoints.shape == (40, NUM_COCO_KEYPOINTS, 2)
