"""Sequence inputs for `forecast`, `frames` and `sequence_pose` models, and forecasts back in the client's shape.

Clients send one time step in the card's `feature_shape` ((17, 2) keypoints, (D,) series, (C, H, W) frames);
the graph may take it flattened ((B, T, 34)). Normalization lives inside the graph, so the forecast comes out
in the input's own units; the rollout is causal, so horizon h is the first h steps of the graph's output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from evaluation.intervals import interval_bounds, level_key
from modelcard import ModelCard
from service.errors import InvalidInput
from service.model import Infer
from service.tasks.arrays import require_finite, require_shape
from service.tasks.images import to_model_input

SEQUENCE_TASKS = ("forecast", "frames", "sequence_pose")
Bounds = dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]  # level -> (lower, upper)


@dataclass(frozen=True)
class Forecast:
    steps: npt.NDArray[np.float32]  # (horizon, *step_shape)
    bounds: Bounds | None  # when intervals were asked for


async def forecast(
    infer: Infer, card: ModelCard, sequence: npt.NDArray[np.floating], horizon: int | None, levels: Sequence[float]
) -> Forecast:
    """The core of the forecast endpoint: the next `horizon` steps (default: the card's) of one sequence, with
    calibrated intervals at `levels`. Everything is checked before the model runs."""
    history = to_history(sequence, card)
    steps_wanted = check_horizon(card, horizon)
    half_widths = calibrated_half_widths(card, levels) if levels else None
    output_name = card.outputs[0].name
    output = (await infer({card.inputs[0].name: history}, [output_name]))[output_name]
    steps = from_forecast(output, steps_wanted, card)
    return Forecast(steps, prediction_intervals(half_widths, history, steps) if half_widths else None)


def step_shape(card: ModelCard) -> tuple[int, ...]:
    """Shape of one time step as clients send it."""
    if card.sequence is not None and card.sequence.feature_shape:
        return tuple(card.sequence.feature_shape)
    shape = tuple(card.inputs[0].shape[2:])
    if any(d < 1 for d in shape):
        raise InvalidInput(f"model '{card.name}' has no fixed feature shape in its card; use /v2 infer")
    return shape


def length_bounds(card: ModelCard) -> tuple[int, int | None]:
    limits = card.sequence
    return (limits.min_input_length, limits.max_input_length) if limits else (1, None)


def horizon_limit(card: ModelCard) -> int:
    """Steps the graph emits: the card's max_horizon, else the output's fixed time axis."""
    if card.sequence is not None and card.sequence.max_horizon is not None:
        return card.sequence.max_horizon
    steps = card.outputs[0].shape[1] if len(card.outputs[0].shape) > 1 else -1
    if steps < 1:
        raise InvalidInput(f"model '{card.name}' declares no forecast horizon in its card; use /v2 infer")
    return steps


def check_horizon(card: ModelCard, horizon: int | None) -> int:
    """The requested horizon (default: the model's limit), within 1..limit."""
    limit = horizon_limit(card)
    if horizon is None:
        return limit
    if horizon < 1 or horizon > limit:
        raise InvalidInput(f"horizon must be between 1 and {limit} (the model's max_horizon), got {horizon}")
    return horizon


def to_history(array: npt.NDArray[np.floating], card: ModelCard, label: str = "sequence") -> npt.NDArray[np.float32]:
    """(T, *step_shape) from the client -> the graph input (1, T, ...) as FP32, checked against the card."""
    shape = step_shape(card)
    layout = "(T, " + ", ".join(map(str, shape)) + ")"
    require_shape(array, (None, *shape), label, layout)
    low, high = length_bounds(card)
    steps = array.shape[0]
    if steps < low or (high is not None and steps > high):
        upper = f"at most {high}" if high is not None else "any number of"
        raise InvalidInput(f"{label} has {steps} time steps; model '{card.name}' takes at least {low} and {upper}")
    require_finite(array, label)
    values = array.astype(np.float32)
    require_finite(values, f"{label} (as FP32)")
    graph_step = card.inputs[0].shape[2:]
    if len(graph_step) == 1 and len(shape) > 1 and graph_step[0] in (-1, math.prod(shape)):
        return values.reshape(1, steps, math.prod(shape))  # (1, T, D) flattened, e.g. D = 17 * 2
    return values[None]  # (1, T, *step_shape)


def from_forecast(output: npt.NDArray[np.floating], horizon: int, card: ModelCard) -> npt.NDArray[np.float32]:
    """Graph output (1, max_horizon, ...) -> (horizon, *step_shape) for the client."""
    steps = np.asarray(output[0, :horizon], dtype=np.float32)
    return steps.reshape(horizon, *step_shape(card))


HalfWidths = dict[str, list[list[float]]]  # level -> (horizon, features), as the card stores them


def calibrated_half_widths(card: ModelCard, levels: Sequence[float]) -> HalfWidths:
    """The card's half-widths at the requested levels; 400 before any inference when it has none of them."""
    calibrated = card.intervals.half_widths if card.intervals else {}
    if not calibrated:
        raise InvalidInput(f"model '{card.name}' has no calibrated prediction intervals in its card")
    missing = [level for level in levels if level_key(level) not in calibrated]
    if missing:
        raise InvalidInput(f"model '{card.name}' has intervals at levels {sorted(calibrated)}, not {missing}")
    return {level_key(level): calibrated[level_key(level)] for level in levels}


def prediction_intervals(
    half_widths: HalfWidths, history: npt.NDArray[np.float32], steps: npt.NDArray[np.float32]
) -> Bounds:
    """level -> (lower, upper), each shaped like `steps` (horizon, *step_shape): the half-widths scaled by the
    spread of the request's own window `history` (1, T, ...)."""
    flat = steps.reshape(1, len(steps), -1)  # (1, H, D), as the card lays half-widths out
    window = history.reshape(1, history.shape[1], -1)  # (1, T, D)
    bounds = {}
    for level, widths in half_widths.items():
        lower, upper = interval_bounds(flat, window, widths)
        bounds[level] = (lower[0].reshape(steps.shape), upper[0].reshape(steps.shape))
    return bounds


def frames_from_images(images: Sequence[Image.Image], card: ModelCard) -> npt.NDArray[np.float32]:
    """Decoded frames -> (T, C, H, W) in [0, 1] at the model's frame size, letterboxed with its pad value."""
    channels, height, width = step_shape(card)[-3:]
    tensors = [to_model_input(image, (height, width), card.preprocessing.pad_value, channels)[0] for image in images]
    return np.stack(tensors)
