"""MSE (eq. 19), RMSE and MAE of forecasts: overall, per horizon step and per feature.

Forecasts are (N, H, ...): N sequences, H horizon steps, any trailing feature dims (flattened to F features).
Every element weighs the same, so the overall MSE is exactly eq. 19 over all N × H × F values and equals
the training loss of an MSE-trained model on the same data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from evaluation.arrays import FloatArray, as_float_array, require_finite, require_shape


@dataclass(frozen=True)
class ErrorCurve:
    """MSE, RMSE and MAE along one axis (horizon steps or features)."""

    mse: tuple[float, ...]
    rmse: tuple[float, ...]
    mae: tuple[float, ...]

    def to_dict(self) -> dict[str, list[float]]:
        return {"mse": list(self.mse), "rmse": list(self.rmse), "mae": list(self.mae)}


@dataclass(frozen=True)
class RegressionResult:
    """Forecast errors; RMSE is the square root of the MSE of the same group, not a mean of roots."""

    mse: float
    rmse: float
    mae: float
    per_step: ErrorCurve  # H entries
    per_feature: ErrorCurve  # F entries, trailing dims flattened in C order
    num_samples: int
    horizon: int
    num_features: int

    def summary(self) -> dict[str, float | None]:
        """One table row: {"MSE": ..., "RMSE": ..., "MAE": ...}."""
        return {"MSE": self.mse, "RMSE": self.rmse, "MAE": self.mae}

    def to_dict(self) -> dict[str, Any]:
        return {
            "mse": self.mse,
            "rmse": self.rmse,
            "mae": self.mae,
            "per_step": self.per_step.to_dict(),
            "per_feature": self.per_feature.to_dict(),
            "num_samples": self.num_samples,
            "horizon": self.horizon,
            "num_features": self.num_features,
        }


def _curve(squared: FloatArray, absolute: FloatArray, axis: tuple[int, ...]) -> ErrorCurve:
    mse = squared.mean(axis=axis)
    return ErrorCurve(
        mse=tuple(float(v) for v in mse),
        rmse=tuple(float(v) for v in np.sqrt(mse)),
        mae=tuple(float(v) for v in absolute.mean(axis=axis)),
    )


def regression_metrics(predictions: npt.ArrayLike, targets: npt.ArrayLike) -> RegressionResult:
    """Errors of predictions against targets, both (N, H, ...) of the same shape, finite, N, H >= 1."""
    pred = as_float_array("predictions", predictions, "(N, H, ...)", min_ndim=2)
    target = as_float_array("targets", targets, "(N, H, ...)", min_ndim=2)
    require_shape("targets", target, pred.shape, "(N, H, ...) like predictions")
    if pred.size == 0:
        raise ValueError(f"predictions must not be empty, got shape {pred.shape}")
    require_finite("predictions", pred)
    require_finite("targets", target)

    with np.errstate(over="ignore"):
        error = (pred - target).reshape(pred.shape[0], pred.shape[1], -1)  # (N, H, F)
        squared, absolute = np.square(error), np.abs(error)
        mse = float(squared.mean())
    if not math.isfinite(mse):
        largest = float(max(np.abs(pred).max(), np.abs(target).max()))
        raise ValueError(f"the squared errors overflow float64 (values up to {largest:.3g}); rescale the arrays")
    return RegressionResult(
        mse=mse,
        rmse=float(np.sqrt(mse)),
        mae=float(absolute.mean()),
        per_step=_curve(squared, absolute, (0, 2)),
        per_feature=_curve(squared, absolute, (0, 1)),
        num_samples=error.shape[0],
        horizon=error.shape[1],
        num_features=error.shape[2],
    )
