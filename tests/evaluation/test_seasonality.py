from __future__ import annotations

import numpy as np

from evaluation.seasonality import autocorrelation, detect_season_length


def test_a_trending_monthly_cycle_has_season_12() -> None:
    t = np.arange(240, dtype=np.float64)
    noise = np.random.default_rng(0).normal(0, 0.3, t.size)
    series = 0.2 * t + 3 * np.sin(2 * np.pi * t / 12) + noise  # the trend would hide the cycle without differencing
    assert detect_season_length(series, max_lag=36) == 12
    assert detect_season_length(np.stack([series, -series], axis=1), max_lag=36) == 12


def test_noise_and_a_random_walk_have_no_season() -> None:
    rng = np.random.default_rng(1)
    assert detect_season_length(rng.normal(size=500), max_lag=36) is None
    assert detect_season_length(np.cumsum(rng.normal(size=500)), max_lag=36) is None


def test_autocorrelation_is_one_at_lag_zero_and_minus_one_for_alternation() -> None:
    acf = autocorrelation(np.tile([1.0, -1.0], 50), max_lag=2)
    np.testing.assert_allclose(acf, [1.0, -0.99, 0.98])
