"""The three output forms decode to the points they encode; crops and layouts as the spec says; flip pairs by name."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.keypoints import COCO_FLIP_PAIRS, COCO_KEYPOINT_NAMES, mirrored_pairs
from modelcard.letterbox import fit_stretch, person_box
from modelcard.pose import PoseInput, PoseOutput
from service.tasks.pose_inputs import encode
from service.tasks.pose_outputs import DecodingError, decode, merge_flipped

SIZE = (8, 12)  # (H, W)


def test_coordinates_in_every_order_and_unit() -> None:
    continuous = np.array([[[2.5, 6.0], [11.0, 0.5]]])  # (B, K, 2) x, y in input pixels
    normalized = continuous / [SIZE[1], SIZE[0]]
    yx_with_score = np.concatenate([normalized[..., ::-1], [[[0.9], [0.1]]]], axis=-1)[:, None]  # (B, 1, K, 3)
    points, scores = decode({"out": yx_with_score}, PoseOutput(order="yx"), ["out"], SIZE)
    np.testing.assert_allclose(points, continuous)
    np.testing.assert_allclose(scores, [[0.9, 0.1]], rtol=1e-6)
    pixel_index = continuous - 0.5
    spec = PoseOutput(normalized=False)
    points, scores = decode({"p": pixel_index, "s": np.array([[0.3, 0.4]])}, spec, ["p", "s"], SIZE)
    np.testing.assert_allclose(points, continuous)
    np.testing.assert_allclose(scores, [[0.3, 0.4]], rtol=1e-6)
    assert decode({"p": pixel_index}, spec, ["p"], SIZE)[1].tolist() == [[1.0, 1.0]]


def test_heatmap_peaks_move_a_quarter_cell_towards_the_higher_neighbour() -> None:
    heatmaps = np.zeros((1, 3, 4, 6), np.float32)  # stride 2 on both axes of the (8, 12) input
    heatmaps[0, 0, 1, 2], heatmaps[0, 0, 1, 3] = 1.0, 0.5  # right neighbour higher: +0.25 cell in x
    heatmaps[0, 1, 2, 4], heatmaps[0, 1, 1, 4] = 0.8, 0.2  # upper neighbour higher: -0.25 cell in y
    heatmaps[0, 2, 0, 0] = 0.7  # on the border: no shift
    points, scores = decode({"h": heatmaps}, PoseOutput(format="heatmaps"), ["h"], SIZE)
    expected_index = np.array([[2.25, 1.0], [4.0, 1.75], [0.0, 0.0]]) * 2  # heatmap cells -> input pixel indices
    np.testing.assert_allclose(points[0], expected_index + 0.5)
    np.testing.assert_allclose(scores[0], [1.0, 0.8, 0.7])


def test_simcc_bins_and_the_lower_peak_as_score() -> None:
    x_bins, y_bins = np.zeros((1, 2, 24)), np.zeros((1, 2, 16))  # split ratio 2
    x_bins[0, 0, 5], y_bins[0, 0, 3] = 0.9, 0.6
    x_bins[0, 1, 23], y_bins[0, 1, 0] = 0.2, 0.8
    points, scores = decode({"x": x_bins, "y": y_bins}, PoseOutput(format="simcc"), ["x", "y"], SIZE)
    np.testing.assert_allclose(points[0], [[3.0, 2.0], [12.0, 0.5]])
    np.testing.assert_allclose(scores[0], [0.6, 0.2])


@pytest.mark.parametrize(
    ("outputs", "spec", "message"),
    [
        ({"o": np.zeros((1, 2, 17, 2))}, PoseOutput(), "only axes of 1"),
        ({"o": np.zeros((1, 17, 4))}, PoseOutput(), "expected 2 (x, y) or 3"),
        ({"o": np.zeros((1, 17))}, PoseOutput(format="heatmaps"), "with 3 axes"),
    ],
)
def test_outputs_of_the_wrong_form_are_named(outputs: dict[str, np.ndarray], spec: PoseOutput, message: str) -> None:
    with pytest.raises(DecodingError, match=message.replace("(", r"\(").replace(")", r"\)")):
        decode(outputs, spec, ["o"], SIZE)


def test_encoding_follows_layout_channels_dtype_and_normalisation() -> None:
    pixels = np.arange(2 * 2 * 3 * 3, dtype=np.uint8).reshape(2, 2, 3, 3)  # (N, H, W, C) RGB
    raw = encode(pixels, PoseInput(layout="NHWC", dtype="uint8", channels="BGR", scale=1.0))
    assert raw.dtype == np.uint8
    np.testing.assert_array_equal(raw, pixels[..., ::-1])
    spec = PoseInput(mean=(0.5, 0.25, 0.0), std=(0.5, 0.25, 2.0))
    normalized = encode(pixels, spec)
    assert normalized.shape == (2, 3, 2, 3)
    assert normalized.dtype == np.float32
    expected = (pixels / 255.0 - [0.5, 0.25, 0.0]) / [0.5, 0.25, 2.0]
    np.testing.assert_allclose(normalized, expected.transpose(0, 3, 1, 2), rtol=1e-5, atol=1e-6)


def test_person_boxes_grow_to_the_input_aspect_ratio_and_stretch_maps_each_axis() -> None:
    x, y, w, h = person_box([10, 20, 40, 40], (256, 192), 1.25)  # a square box into a 3:4 (W:H) input
    assert (w, h) == pytest.approx((50, 50 * 4 / 3))
    assert (x + w / 2, y + h / 2) == pytest.approx((30, 40))  # about the box's centre
    mapping = fit_stretch((0, 0, 100, 50), (64, 48))
    np.testing.assert_allclose(mapping.to_output([[100, 50], [50, 25]]), [[48, 64], [24, 32]])
    np.testing.assert_allclose(mapping.to_source(mapping.to_output([[3.0, 7.0]])), [[3.0, 7.0]])


def test_flip_pairs_come_from_the_names_and_merging_undoes_the_mirror() -> None:
    assert mirrored_pairs(COCO_KEYPOINT_NAMES) == list(COCO_FLIP_PAIRS)
    assert mirrored_pairs(["head", "L_hand", "R_hand"]) == [(1, 2)]
    points = np.array([[[2.0, 1.0], [9.0, 3.0], [5.0, 5.0]]])  # head, left hand, right hand
    scores = np.array([[0.5, 0.6, 0.7]], np.float32)
    mirrored = np.array([[[10.0, 1.0], [7.0, 5.0], [3.0, 3.0]]])  # what the mirrored image answers (width 12)
    merged, merged_scores = merge_flipped(points, scores, mirrored, scores[:, [0, 2, 1]], 12, [(1, 2)])
    np.testing.assert_allclose(merged, points)
    np.testing.assert_allclose(merged_scores, scores)
