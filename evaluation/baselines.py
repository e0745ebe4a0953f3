"""The baselines printed beside every model, so a score always has a floor to beat.

Forecast baselines map a history (N, T, ...) to a forecast (N, H, ...) with the same trailing dims; they are
pure numpy and never look past the history they are given.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from evaluation.arrays import FloatArray, as_float_array, as_visibility, require_finite


def _history(history: npt.ArrayLike, horizon: int, min_steps: int) -> FloatArray:
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
    array = as_float_array("history", history, "(N, T, ...)", min_ndim=2)
    if array.shape[1] < min_steps:
        raise ValueError(f"history needs at least {min_steps} time steps, got shape {array.shape}")
    require_finite("history", array)
    return array


def _repeat_steps(frame: FloatArray, horizon: int) -> FloatArray:
    """(N, ...) -> (N, H, ...) by repeating along a new time axis."""
    return np.repeat(frame[:, None], horizon, axis=1)


def last_value(history: npt.ArrayLike, horizon: int) -> FloatArray:
    """Repeat the last observed step H times: the persistence forecast."""
    array = _history(history, horizon, 1)
    return _repeat_steps(array[:, -1], horizon)


def copy_last_frame(frames: npt.ArrayLike, horizon: int) -> FloatArray:
    """Persistence for frame forecasts: frames (N, T, C, H, W) -> (N, horizon, C, H, W)."""
    array = as_float_array("frames", frames, "(N, T, C, H, W)", ndim=5)
    return last_value(array, horizon)


def constant_velocity(history: npt.ArrayLike, horizon: int) -> FloatArray:
    """Extrapolate the last difference: x[T-1] + h × (x[T-1] - x[T-2]) for h = 1..H."""
    array = _history(history, horizon, 2)
    last, velocity = array[:, -1], array[:, -1] - array[:, -2]
    steps = np.arange(1, horizon + 1, dtype=np.float64).reshape((1, horizon) + (1,) * (array.ndim - 2))
    return np.asarray(last[:, None] + steps * velocity[:, None], dtype=np.float64)


def seasonal_naive(history: npt.ArrayLike, horizon: int, period: int) -> FloatArray:
    """Repeat the value one season ago: forecast step h (0-based) is x[T - period + (h mod period)]."""
    if isinstance(period, bool) or not isinstance(period, int | np.integer) or period < 1:
        raise ValueError(f"period must be an integer >= 1, got {period!r}")
    array = _history(history, horizon, period)
    steps = array.shape[1]
    indices = steps - period + np.arange(horizon) % period
    return np.asarray(array[:, indices], dtype=np.float64)


def _drift_slope(array: FloatArray) -> FloatArray:
    """(N, T, ...) -> (N, ...): the average change per step over the whole window, (x[T-1] - x[0]) / (T - 1)."""
    return np.asarray((array[:, -1] - array[:, 0]) / (array.shape[1] - 1), dtype=np.float64)


def drift(history: npt.ArrayLike, horizon: int) -> FloatArray:
    """The window's average change per step carried on: x[T-1] + h × (x[T-1] - x[0]) / (T - 1) for h = 1..H."""
    array = _history(history, horizon, 2)
    steps = np.arange(1, horizon + 1, dtype=np.float64).reshape((1, horizon) + (1,) * (array.ndim - 2))
    return np.asarray(array[:, -1][:, None] + steps * _drift_slope(array)[:, None], dtype=np.float64)


def seasonal_naive_with_drift(history: npt.ArrayLike, horizon: int, period: int) -> FloatArray:
    """Seasonal naive plus the trend: the value k seasons back, moved by the average change per step times the
    k × period steps in between. The change per step is measured between points of the same phase (the last value
    and the one whole seasons before it, as far back as the window reaches), so the season does not bias it."""
    naive = seasonal_naive(history, horizon, period)
    array = _history(history, horizon, period + 1)
    span = (array.shape[1] - 1) // period * period  # whole seasons between the compared points
    slope = (array[:, -1] - array[:, -1 - span]) / span
    seasons_back = np.arange(horizon) // period + 1  # k for each forecast step
    lag = (seasons_back * period).astype(np.float64).reshape((1, horizon) + (1,) * (array.ndim - 2))
    return np.asarray(naive + lag * slope[:, None], dtype=np.float64)


def forecast_baselines(history: npt.ArrayLike, horizon: int, *, period: int | None = None) -> dict[str, FloatArray]:
    """Every forecast baseline that applies: the seasonal ones only when a period is given and fits the history."""
    forecasts = {
        "last_value": last_value(history, horizon),
        "constant_velocity": constant_velocity(history, horizon),
        "drift": drift(history, horizon),
    }
    if period is not None:
        forecasts["seasonal_naive"] = seasonal_naive(history, horizon, period)
        if np.shape(history)[1] > period:
            forecasts["seasonal_naive_drift"] = seasonal_naive_with_drift(history, horizon, period)
    return forecasts


def mean_pose(poses: npt.ArrayLike, visibility: npt.ArrayLike | None = None) -> FloatArray:
    """Mean training pose per joint, (M, K, D) -> (K, D), over labelled points only when visibility is given.

    Broadcast it over a test batch as the PCK baseline; compute it in the coordinates the model predicts in
    (e.g. box-normalized) so that it transfers between images of different sizes.
    """
    array = as_float_array("poses", poses, "(M, K, D)", ndim=3)
    if array.shape[0] == 0:
        raise ValueError("poses must hold at least one training pose")
    labelled = np.ones(array.shape[:2], dtype=bool)
    if visibility is not None:
        labelled = as_visibility("visibility", visibility, array.shape[:2]) > 0
    require_finite("poses", array, np.broadcast_to(labelled[..., None], array.shape))
    counts = labelled.sum(axis=0)  # (K,)
    if (counts == 0).any():
        raise ValueError(f"joints {np.flatnonzero(counts == 0).tolist()} are never labelled in poses")
    total = np.where(labelled[..., None], array, 0.0).sum(axis=0)  # (K, D)
    return np.asarray(total / counts[:, None], dtype=np.float64)
