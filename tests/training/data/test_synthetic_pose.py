from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from evaluation.keypoints import NUM_COCO_KEYPOINTS, VISIBILITY_OCCLUDED
from training.data.body import pose_figure, sample_pose, sample_shape
from training.data.render import draw_figure, sample_style
from training.data.synthetic_pose import PoseConfig, place_figure, pose_batch, pose_sample


def test_same_seed_same_arrays_and_other_seed_differs() -> None:
    first, again, other = pose_batch(3, range(4)), pose_batch(3, range(4)), pose_batch(4, range(4))
    for name in ("images", "keypoints", "visibility"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.images, other.images)
    assert not np.allclose(first.keypoints, other.keypoints)


def test_any_subset_regenerates_from_seed_and_index() -> None:
    full = pose_batch(1, range(6))
    subset = pose_batch(1, [4, 1])
    np.testing.assert_array_equal(subset.images, full.images[[4, 1]])
    np.testing.assert_array_equal(subset.keypoints, full.keypoints[[4, 1]])


def test_shapes_and_dtypes_follow_the_image_size() -> None:
    batch = pose_batch(0, range(3), PoseConfig(image_size=(96, 80)))
    assert batch.images.shape == (3, 96, 80, 3)
    assert batch.images.dtype == np.uint8
    assert batch.keypoints.shape == (3, NUM_COCO_KEYPOINTS, 2)
    assert batch.keypoints.dtype == np.float32
    assert batch.visibility.shape == (3, NUM_COCO_KEYPOINTS)
    assert batch.visibility.dtype == np.uint8
    assert pose_batch(0, []).images.shape == (0, 128, 128, 3)


def test_flags_are_zero_exactly_outside_the_image() -> None:
    batch = pose_batch(5, range(120), PoseConfig(truncation_prob=0.6))
    x, y = batch.keypoints[..., 0], batch.keypoints[..., 1]
    inside = (x >= 0) & (x < 128) & (y >= 0) & (y < 128)
    np.testing.assert_array_equal(batch.visibility > 0, inside)
    assert (~inside).any(axis=1).mean() > 0.3  # truncation really happens


def test_without_truncation_the_whole_person_is_in_frame() -> None:
    batch = pose_batch(6, range(60), PoseConfig(truncation_prob=0.0))
    assert (batch.visibility > 0).all()


@pytest.mark.parametrize("seed", range(6))
def test_renderer_draws_at_the_keypoints_and_nowhere_else(seed: int) -> None:
    rng = np.random.default_rng(seed)
    figure = place_figure(pose_figure(sample_shape(rng), sample_pose(rng)), rng, (128, 128), (0.6, 0.9), 30, 0)
    flat = (3, 250, 7)
    image = Image.new("RGB", (128, 128), flat)
    draw_figure(image, figure, sample_style(rng))
    changed = (np.asarray(image) != flat).any(axis=-1)
    shown = np.ones(NUM_COCO_KEYPOINTS, bool)
    shown[:5] = ~figure.face_hidden
    for x, y in figure.keypoints[shown]:
        assert changed[int(y), int(x)], (x, y)
    # Nothing drawn beyond the figure's outline points plus the widest limb radius and the outline.
    points = figure.outline_points()
    margin = figure.shape.thigh_radius * figure.scale + 3
    rows, cols = np.nonzero(changed)
    assert cols.min() >= points[:, 0].min() - margin
    assert cols.max() <= points[:, 0].max() + margin
    assert rows.min() >= points[:, 1].min() - margin
    assert rows.max() <= points[:, 1].max() + margin


def test_eyes_are_drawn_on_their_keypoints() -> None:
    rng = np.random.default_rng(11)
    hits = 0
    for _ in range(10):
        figure = place_figure(pose_figure(sample_shape(rng), sample_pose(rng)), rng, (128, 128), (0.9, 0.9), 0, 0)
        image = Image.new("RGB", (128, 128), (255, 255, 255))
        draw_figure(image, figure, sample_style(rng))
        pixels = np.asarray(image).astype(int)
        for k in (1, 2):
            if figure.face_hidden[k]:
                continue
            x, y = figure.keypoints[k].astype(int)
            window = pixels[y - 1 : y + 2, x - 1 : x + 2]
            assert (np.abs(window - (15, 15, 20)).sum(axis=-1) == 0).any()  # the eye colour within a pixel
            hits += 1
    assert hits >= 10


def test_occluded_flags_are_set_exactly_under_occluders() -> None:
    config = PoseConfig(occlusion_prob=1.0, max_occluders=2, truncation_prob=0.0)
    occluded_joints = 0
    for index in range(80):
        sample = pose_sample(2, index, config)
        body = np.arange(5, NUM_COCO_KEYPOINTS)  # face points may also be turned away, which is flag 1 too
        x, y = sample.keypoints[body].T.astype(int)
        under = sample.occluder_mask[y, x]
        np.testing.assert_array_equal(sample.visibility[body] == VISIBILITY_OCCLUDED, under)
        occluded_joints += int(under.sum())
    assert occluded_joints > 40


@pytest.mark.parametrize("index", range(4))
def test_occluders_cover_exactly_their_mask(index: int) -> None:
    # Same stream, noise off: the only difference between the two renders is the occluders.
    plain = pose_sample(9, index, PoseConfig(noise_std=0.0, blur_prob=0.0, occlusion_prob=0.0))
    covered = pose_sample(9, index, PoseConfig(noise_std=0.0, blur_prob=0.0, occlusion_prob=1.0))
    changed = (plain.image != covered.image).any(axis=-1)
    assert not plain.occluder_mask.any()
    assert covered.occluder_mask.sum() > 20
    assert not (changed & ~covered.occluder_mask).any()
    assert changed[covered.occluder_mask].mean() > 0.5
