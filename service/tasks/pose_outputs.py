"""Graph outputs -> keypoints in input pixels, for the three forms pose networks emit (see `modelcard.pose`).

Points leave as continuous input pixels (pixel column c spans [c, c + 1), its centre is c + 0.5) with a score per
keypoint. Heatmap and SimCC peaks are pixel indices as MMPose's codecs produce them, hence the half-pixel shift.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from modelcard import ModelCard, TensorSpec
from modelcard.pose import PoseOutput

INDEX_TO_CONTINUOUS = 0.5
QUARTER_OFFSET = 0.25  # heatmaps: a quarter cell towards the higher neighbour (Newell et al., HRNet; MMPose
# refines the same way but leaves the second column and row alone, so peaks there may differ by a quarter cell)
OUTPUT_COUNTS = {"coordinates": (1, 2), "heatmaps": (1, 1), "simcc": (2, 2)}

Points = npt.NDArray[np.float64]  # (B, K, 2) x, y in input pixels
Scores = npt.NDArray[np.float32]  # (B, K)


class DecodingError(ValueError):
    """Outputs that do not have the form the spec names (caught at import; a served graph has been checked)."""


def output_names(spec: PoseOutput, outputs: Sequence[TensorSpec]) -> list[str]:
    """The graph outputs the decoding reads, in the order the format takes them."""
    low, high = OUTPUT_COUNTS[spec.format]
    known = [tensor.name for tensor in outputs]
    names = spec.names if spec.names is not None else known[:high]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise DecodingError(f"output.names lists {unknown}, which the graph lacks; its outputs are {known}")
    if not low <= len(names) <= high:
        wanted = f"{low}" if low == high else f"{low} or {high}"
        raise DecodingError(f"format '{spec.format}' reads {wanted} outputs, got {names}")
    return list(names)


def decode_card_outputs(
    outputs: Mapping[str, np.ndarray], card: ModelCard, size: tuple[int, int]
) -> tuple[Points, Scores]:
    spec = card.pose_spec.output
    return decode(outputs, spec, output_names(spec, card.outputs), size)


def decode(
    outputs: Mapping[str, np.ndarray], spec: PoseOutput, names: Sequence[str], size: tuple[int, int]
) -> tuple[Points, Scores]:
    """Outputs of a batch for an input of `size` (H, W) -> points (B, K, 2) and scores (B, K)."""
    arrays = [np.asarray(outputs[name]) for name in names]
    if spec.format == "coordinates":
        return _coordinates(arrays, names, spec, size)
    if spec.format == "heatmaps":
        return _heatmaps(_squeezed(arrays[0], 3, names[0]), size)
    return _simcc(_squeezed(arrays[0], 2, names[0]), _squeezed(arrays[1], 2, names[1]), spec.split_ratio)


def _squeezed(array: np.ndarray, trailing: int, name: str) -> np.ndarray:
    """(B, 1, ..., 1, *trailing axes) -> (B, *trailing axes): graphs often keep singleton axes (MoveNet's
    (B, 1, 17, 3))."""
    if array.ndim < trailing + 1:
        raise DecodingError(f"output '{name}' has shape {list(array.shape)}; expected (B, ...) with {trailing} axes")
    middle = array.shape[1 : array.ndim - trailing]
    if any(axis != 1 for axis in middle):
        raise DecodingError(f"output '{name}' has shape {list(array.shape)}; only axes of 1 may sit after the batch")
    return array.reshape(array.shape[0], *array.shape[array.ndim - trailing :])


def _coordinates(
    arrays: list[np.ndarray], names: Sequence[str], spec: PoseOutput, size: tuple[int, int]
) -> tuple[Points, Scores]:
    coordinates = _squeezed(arrays[0], 2, names[0])
    channels = coordinates.shape[-1]
    if channels not in (2, 3):
        raise DecodingError(f"coordinates have {channels} values per keypoint; expected 2 (x, y) or 3 (with a score)")
    points = coordinates[..., :2].astype(np.float64)
    if spec.order == "yx":
        points = points[..., ::-1]
    height, width = size
    points = points * [width, height] if spec.normalized else points + INDEX_TO_CONTINUOUS
    if len(arrays) == 2:
        scores = _squeezed(arrays[1], 1, names[1])
        if scores.shape != coordinates.shape[:2]:
            raise DecodingError(f"scores have shape {list(scores.shape)}, points {list(coordinates.shape)}")
    elif channels == 3:
        scores = coordinates[..., 2]
    else:
        scores = np.ones(coordinates.shape[:2])
    return np.ascontiguousarray(points), scores.astype(np.float32)


def _heatmaps(heatmaps: np.ndarray, size: tuple[int, int]) -> tuple[Points, Scores]:
    """(B, K, h, w): the peak, moved a quarter cell towards the higher neighbour; its value is the score."""
    batch, count, rows, columns = heatmaps.shape
    flat = heatmaps.reshape(batch, count, rows * columns)
    peak = flat.argmax(axis=-1)
    y, x = np.divmod(peak, columns)
    b, k = np.indices((batch, count))
    shift = np.zeros((batch, count, 2))
    inner_x = (x > 0) & (x < columns - 1)
    inner_y = (y > 0) & (y < rows - 1)
    clamp_x, clamp_y = np.clip(x, 1, max(columns - 2, 1)), np.clip(y, 1, max(rows - 2, 1))
    if columns > 2:
        step_x = heatmaps[b, k, y, clamp_x + 1] - heatmaps[b, k, y, clamp_x - 1]
        shift[..., 0] = np.where(inner_x, np.sign(step_x) * QUARTER_OFFSET, 0.0)
    if rows > 2:
        step_y = heatmaps[b, k, clamp_y + 1, x] - heatmaps[b, k, clamp_y - 1, x]
        shift[..., 1] = np.where(inner_y, np.sign(step_y) * QUARTER_OFFSET, 0.0)
    height, width = size
    stride = np.array([width / columns, height / rows])
    points = (np.stack([x, y], axis=-1) + shift) * stride + INDEX_TO_CONTINUOUS
    return points, flat.max(axis=-1).astype(np.float32)


def _simcc(x_bins: np.ndarray, y_bins: np.ndarray, split_ratio: float) -> tuple[Points, Scores]:
    """(B, K, W * r) and (B, K, H * r): each axis's peak over r bins per pixel; the score is the lower peak, as
    MMPose's get_simcc_maximum takes it."""
    if x_bins.shape[:2] != y_bins.shape[:2]:
        raise DecodingError(f"simcc x has shape {list(x_bins.shape)}, y {list(y_bins.shape)}: (B, K) must agree")
    points = np.stack([x_bins.argmax(axis=-1), y_bins.argmax(axis=-1)], axis=-1) / split_ratio
    scores = np.minimum(x_bins.max(axis=-1), y_bins.max(axis=-1))
    return points + INDEX_TO_CONTINUOUS, scores.astype(np.float32)


def merge_flipped(
    points: Points,
    scores: Scores,
    mirrored: Points,
    mirrored_scores: Scores,
    width: int,
    pairs: Sequence[tuple[int, int]],
) -> tuple[Points, Scores]:
    """Average a crop's keypoints with those of its mirror image, mapped back: x -> width - x, and the left and
    right joints of `pairs` swapped (MMPose's flip test, on coordinates)."""
    order = np.arange(points.shape[1])
    for left, right in pairs:
        order[left], order[right] = right, left
    back = mirrored[:, order].copy()
    back[..., 0] = width - back[..., 0]
    return (points + back) / 2, ((scores + mirrored_scores[:, order]) / 2).astype(np.float32)
