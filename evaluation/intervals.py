"""Split-conformal prediction intervals for forecasts, scale-free: residuals are measured in units of each input
window's own spread, so one calibration serves a series at any level and scale.

Calibration (training, on the validation block): for each horizon step and feature, the conformal quantile of
|target - forecast| / scale over the validation windows. Serving: forecast ± quantile × scale of the request's
window. With n calibration windows, the level-α quantile is the ⌈(n + 1) α⌉-th smallest score, which covers a new
exchangeable window with probability at least α.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from evaluation.arrays import FloatArray, as_float_array, require_finite

RELATIVE_SCALE_FLOOR = 1e-6  # a flat window still gets an interval: its scale is at least this × its level


def window_scale(history: npt.ArrayLike) -> FloatArray:
    """(N, T, ...) -> (N, 1, ...): the standard deviation of each window over time, per feature."""
    array = as_float_array("history", history, "(N, T, ...)", min_ndim=2)
    spread = array.std(axis=1, keepdims=True)
    level = np.abs(array).mean(axis=1, keepdims=True)
    return np.asarray(np.maximum(spread, RELATIVE_SCALE_FLOOR * (level + 1.0)), dtype=np.float64)


def conformal_half_widths(
    forecast: npt.ArrayLike, targets: npt.ArrayLike, history: npt.ArrayLike, levels: Sequence[float]
) -> dict[str, FloatArray]:
    """level -> (H, ...) half-widths in window-scale units, from calibration windows (N, H, ...)."""
    predicted = as_float_array("forecast", forecast, "(N, H, ...)", min_ndim=2)
    truth = as_float_array("targets", targets, "(N, H, ...)", min_ndim=2)
    require_finite("forecast", predicted)
    scores = np.sort(np.abs(truth - predicted) / window_scale(history), axis=0)  # (N, H, ...)
    count = len(scores)
    widths = {}
    for level in levels:
        if not 0 < level < 1:
            raise ValueError(f"interval levels must lie in (0, 1), got {level}")
        rank = math.ceil((count + 1) * level)
        if rank > count:
            needed = math.ceil(level / (1 - level))
            raise ValueError(f"a {level:.0%} interval needs at least {needed} calibration windows, got {count}")
        widths[level_key(level)] = scores[rank - 1]
    return widths


def interval_bounds(
    forecast: npt.ArrayLike, history: npt.ArrayLike, half_width: npt.ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Lower and upper bounds (N, H, ...) around a forecast, for half-widths (H, ...) in window-scale units."""
    predicted = as_float_array("forecast", forecast, "(N, H, ...)", min_ndim=2)
    steps = np.asarray(half_width, dtype=np.float64)[: predicted.shape[1]]
    scale = window_scale(history)
    width = steps.reshape(predicted.shape[1:]) * scale.reshape(len(scale), 1, *predicted.shape[2:])
    return predicted - width, predicted + width


def coverage(targets: npt.ArrayLike, lower: npt.ArrayLike, upper: npt.ArrayLike) -> float:
    """The fraction of target values inside their interval."""
    truth = np.asarray(targets, dtype=np.float64)
    return float(((truth >= np.asarray(lower)) & (truth <= np.asarray(upper))).mean())


def level_key(level: float) -> str:
    """0.8 -> "0.8": how levels are named in cards and responses."""
    return f"{level:g}"
