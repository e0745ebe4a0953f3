from __future__ import annotations

import numpy as np
import pytest

from evaluation.intervals import conformal_half_widths, coverage, interval_bounds, window_scale


def _windows(rng: np.random.Generator, count: int, level: float, scale: float) -> tuple[np.ndarray, ...]:
    """Histories (N, 8, 1) around `level` with spread `scale`, a flat forecast, targets with noise of that scale."""
    history = level + scale * rng.normal(size=(count, 8, 1))
    forecast = np.repeat(history.mean(axis=1, keepdims=True), 3, axis=1)  # (N, 3, 1)
    targets = forecast + scale * rng.normal(size=forecast.shape) * np.array([1.0, 2.0, 3.0])[None, :, None]
    return history, forecast, targets


def test_the_quantile_is_the_conformal_rank() -> None:
    """With n = 9 scores and level 0.8, the half-width is the ceil(10 * 0.8) = 8th smallest score."""
    history = np.array([[[0.0], [2.0]]] * 9)  # window std 1
    forecast = np.zeros((9, 1, 1))
    targets = np.arange(1, 10, dtype=np.float64).reshape(9, 1, 1)
    widths = conformal_half_widths(forecast, targets, history, [0.8])
    assert widths["0.8"].tolist() == [[8.0]]
    with pytest.raises(ValueError, match="needs at least 19 calibration windows"):
        conformal_half_widths(forecast, targets, history, [0.95])


def test_intervals_cover_their_level_on_new_windows_at_any_level_and_scale() -> None:
    rng = np.random.default_rng(0)
    widths = conformal_half_widths(*_reorder(_windows(rng, 400, 0.0, 1.0)), [0.8, 0.95])
    for level, scale in ((0.0, 1.0), (1000.0, 50.0)):  # calibrated at one level and scale, used at another
        history, forecast, targets = _windows(rng, 4000, level, scale)
        for key, expected in (("0.8", 0.8), ("0.95", 0.95)):
            measured = coverage(targets, *interval_bounds(forecast, history, widths[key]))
            assert abs(measured - expected) < 0.03, (level, scale, key, measured)


def test_bounds_take_the_shape_of_the_forecast() -> None:
    history = np.arange(2 * 4 * 6, dtype=np.float64).reshape(2, 4, 3, 2)  # (N, T, 3 keypoints, 2)
    forecast = np.zeros((2, 5, 3, 2))
    lower, upper = interval_bounds(forecast, history, np.ones((5, 6)))  # the card stores (H, features) flat
    assert lower.shape == upper.shape == forecast.shape
    np.testing.assert_allclose(upper, np.broadcast_to(window_scale(history), forecast.shape))


def _reorder(windows: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
    history, forecast, targets = windows
    return forecast, targets, history
