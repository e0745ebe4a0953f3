from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from evaluation.baselines import (
    constant_velocity,
    copy_last_frame,
    drift,
    forecast_baselines,
    last_value,
    mean_pose,
    seasonal_naive,
    seasonal_naive_with_drift,
)

HISTORY = np.array([[[0.0, 0.0], [1.0, 2.0], [3.0, 5.0]]])  # (N=1, T=3, F=2)


def test_last_value_repeats_the_last_step() -> None:
    np.testing.assert_array_equal(last_value(HISTORY, 2), [[[3.0, 5.0], [3.0, 5.0]]])


def test_constant_velocity_extrapolates_the_last_difference() -> None:
    np.testing.assert_array_equal(constant_velocity(HISTORY, 3), [[[5.0, 8.0], [7.0, 11.0], [9.0, 14.0]]])


def test_seasonal_naive_repeats_the_last_season() -> None:
    history = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]])  # (N=2, T=4)
    np.testing.assert_array_equal(seasonal_naive(history, 5, period=3), [[2, 3, 4, 2, 3], [20, 30, 40, 20, 30]])
    np.testing.assert_array_equal(seasonal_naive(history, 2, period=1), last_value(history, 2))


def test_copy_last_frame_keeps_frame_dims() -> None:
    frames = np.arange(2 * 3 * 1 * 2 * 2, dtype=np.float64).reshape(2, 3, 1, 2, 2)
    forecast = copy_last_frame(frames, 4)
    assert forecast.shape == (2, 4, 1, 2, 2)
    np.testing.assert_array_equal(forecast[:, 3], frames[:, 2])
    with pytest.raises(ValueError, match=r"frames must have shape \(N, T, C, H, W\)"):
        copy_last_frame(frames[0], 1)


def test_drift_carries_the_windows_average_change_on() -> None:
    # slope over the window: (3 - 0) / 2 = 1.5 and (5 - 0) / 2 = 2.5 per step
    np.testing.assert_array_equal(drift(HISTORY, 2), [[[4.5, 7.5], [6.0, 10.0]]])


def test_seasonal_naive_with_drift_moves_each_season_by_the_trend() -> None:
    """A seasonal series on a line is forecast exactly: the season repeats, lifted by slope x lag."""
    t = np.arange(30, dtype=np.float64)
    series = 0.5 * t + np.tile([0.0, 3.0, -1.0, 2.0, 1.0], 6)  # period 5, exact seasonality
    history, future = series[None, :20], series[None, 20:]
    np.testing.assert_allclose(seasonal_naive_with_drift(history, 10, period=5), future, atol=1e-12)
    assert np.abs(seasonal_naive(history, 10, period=5) - future).max() > 2  # plain seasonal naive lags the trend


def test_forecast_baselines_adds_the_seasonal_ones_only_with_a_period() -> None:
    assert list(forecast_baselines(HISTORY, 2)) == ["last_value", "constant_velocity", "drift"]
    both = forecast_baselines(HISTORY, 2, period=2)
    np.testing.assert_array_equal(both["seasonal_naive"], [[[1.0, 2.0], [3.0, 5.0]]])
    assert set(both) == {"last_value", "constant_velocity", "drift", "seasonal_naive", "seasonal_naive_drift"}


def test_mean_pose_averages_labelled_points_per_joint() -> None:
    poses = np.array([[[0.0, 0.0], [2.0, 2.0]], [[4.0, 2.0], [100.0, 100.0]], [[2.0, 4.0], [4.0, 6.0]]])
    vis = np.array([[2, 2], [1, 0], [2, 2]])
    np.testing.assert_array_equal(mean_pose(poses, vis), [[2.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(mean_pose(poses), [[2.0, 2.0], [106 / 3, 108 / 3]])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: last_value(HISTORY, 0), "horizon must be an integer >= 1, got 0"),
        (lambda: last_value(HISTORY, 1.5), "horizon must be an integer >= 1"),
        (lambda: last_value(np.zeros(3), 1), r"history must have shape \(N, T, \.\.\.\)"),
        (lambda: constant_velocity(HISTORY[:, :1], 1), "history needs at least 2 time steps"),
        (lambda: seasonal_naive(HISTORY, 1, period=4), "history needs at least 4 time steps"),
        (lambda: seasonal_naive(HISTORY, 1, period=0), "period must be an integer >= 1, got 0"),
        (lambda: last_value(np.array([[np.nan]]), 1), r"history contains NaN or inf at index \(0, 0\)"),
        (lambda: mean_pose(np.zeros((2, 3, 2)), np.array([[2, 0, 2], [1, 0, 0]])), r"joints \[1\] are never"),
        (lambda: mean_pose(np.zeros((0, 3, 2))), "at least one training pose"),
    ],
)
def test_malformed_inputs_raise_value_error(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
