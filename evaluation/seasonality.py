"""The season length of a series, from its autocorrelation, when the data config does not give one."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from evaluation.arrays import as_float_array, require_finite

MIN_AUTOCORRELATION = 0.3  # a peak weaker than this is noise, not a season


def autocorrelation(series: npt.ArrayLike, max_lag: int) -> npt.NDArray[np.float64]:
    """ACF at lags 0..max_lag of a (T,) or (T, F) series, averaged over its features."""
    array = as_float_array("series", series, "(T,) or (T, F)", min_ndim=1)
    require_finite("series", array)
    values = array.reshape(len(array), -1) - array.reshape(len(array), -1).mean(axis=0)
    variance = (values**2).sum(axis=0)
    variance = np.where(variance > 0, variance, 1.0)
    lags = range(min(max_lag, len(values) - 1) + 1)
    return np.array([((values[lag:] * values[: len(values) - lag]).sum(axis=0) / variance).mean() for lag in lags])


def detect_season_length(series: npt.ArrayLike, max_lag: int) -> int | None:
    """The lag (2..max_lag) of the strongest autocorrelation peak of the differenced series, or None.

    Differencing first removes the trend, whose slowly decaying autocorrelation would hide the season.
    """
    array = as_float_array("series", series, "(T,) or (T, F)", min_ndim=1)
    acf = autocorrelation(np.diff(array, axis=0), max_lag + 1)
    peaks = [
        lag
        for lag in range(2, len(acf) - 1)
        if acf[lag] > acf[lag - 1] and acf[lag] >= acf[lag + 1] and acf[lag] >= MIN_AUTOCORRELATION
    ]
    return max(peaks, key=lambda lag: (acf[lag], -lag)) if peaks else None
