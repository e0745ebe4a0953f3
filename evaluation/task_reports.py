"""The metric layouts of each task, written once: training puts them in model cards, the service returns them.

Keeping the layout here is what makes a number from `POST /v1/models/{name}/evaluate` equal the number
`python -m training evaluate` prints for the same data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from evaluation.baselines import copy_last_frame, forecast_baselines
from evaluation.intervals import coverage, interval_bounds
from evaluation.keypoints import VISIBILITY_OCCLUDED
from evaluation.pck import compute_pck
from evaluation.regression import regression_metrics


def pose_report(
    predicted: npt.ArrayLike,
    ground_truth: npt.ArrayLike,
    visibility: npt.ArrayLike,
    mean_pose: npt.ArrayLike,
    joint_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """PCK of predictions (N, K, 2) in pixels, on the occluded joints alone, and of the mean-pose baseline (K, 2)."""
    truth = np.asarray(ground_truth, dtype=np.float64)
    flags = np.asarray(visibility)
    baseline = np.broadcast_to(np.asarray(mean_pose, dtype=np.float64), truth.shape)
    occluded = flags == VISIBILITY_OCCLUDED
    return {
        "pck": compute_pck(predicted, truth, flags, joint_names=joint_names).to_dict(),
        "pck_occluded": compute_pck(predicted, truth, flags, score_only=occluded, joint_names=joint_names).to_dict(),
        "baselines": {"mean_pose": {"pck": compute_pck(baseline, truth, flags, joint_names=joint_names).to_dict()}},
        "test_samples": len(truth),
    }


def heldout_style_report(
    predicted: npt.ArrayLike, ground_truth: npt.ArrayLike, visibility: npt.ArrayLike
) -> dict[str, Any]:
    """PCK (pixels) on images of a renderer the model never trained on, laid out as `pose_report`'s "pck"."""
    return {"pck_heldout_style": compute_pck(predicted, ground_truth, visibility).to_dict()}


def forecast_report(
    forecast: npt.ArrayLike,
    targets: npt.ArrayLike,
    history: npt.ArrayLike,
    period: int | None = None,
    intervals: Mapping[str, npt.ArrayLike] | None = None,
) -> dict[str, Any]:
    """Errors of a forecast (N, H, ...) beside every baseline that applies (the seasonal ones with a period), the
    best of those baselines by RMSE, and with calibrated `intervals` (level -> half-widths) their coverage."""
    truth = np.asarray(targets)
    baselines = forecast_baselines(history, truth.shape[1], period=period)
    report: dict[str, Any] = {
        "model": regression_metrics(forecast, truth).to_dict(),
        "baselines": {name: regression_metrics(values, truth).to_dict() for name, values in baselines.items()},
        "test_samples": len(truth),
    }
    best = min(report["baselines"], key=lambda name: report["baselines"][name]["rmse"])
    model_rmse, best_rmse = report["model"]["rmse"], report["baselines"][best]["rmse"]
    report["best_baseline"] = {
        "name": best,
        "rmse": best_rmse,
        "model_rmse": model_rmse,
        "ratio": model_rmse / best_rmse if best_rmse > 0 else float("inf"),
    }
    if intervals:
        report["intervals"] = {
            level: {"coverage": coverage(truth, *interval_bounds(forecast, history, widths))}
            for level, widths in intervals.items()
        }
    return report


def frames_report(forecast: npt.ArrayLike, targets: npt.ArrayLike, history: npt.ArrayLike) -> dict[str, Any]:
    """Errors of a frame forecast (N, H, C, H, W) beside copy-last-frame; overall and per step only."""
    truth = np.asarray(targets)
    return {
        "model": _frame_errors(forecast, truth),
        "baselines": {"copy_last_frame": _frame_errors(copy_last_frame(history, truth.shape[1]), truth)},
        "test_samples": len(truth),
    }


def _frame_errors(predicted: npt.ArrayLike, targets: npt.NDArray[Any]) -> dict[str, Any]:
    """Per-pixel figures would be thousands of numbers, so frames keep the overall and per-step errors."""
    steps = targets.shape[1]
    result = regression_metrics(
        np.reshape(predicted, (len(targets), steps, -1)), targets.reshape(len(targets), steps, -1)
    )
    return {"mse": result.mse, "rmse": result.rmse, "mae": result.mae, "per_step": result.per_step.to_dict()}
