"""Metrics for the evaluation endpoints, computed by `evaluation` (the code training reports with).

The model runs go through a caller-given `infer` (the served model's batcher); the metric dictionaries have
the layout `training.tasks` writes into model cards, so an API number and a CLI number line up key by key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from evaluation.baselines import copy_last_frame, forecast_baselines, mean_pose
from evaluation.matching import pck_from_coco
from evaluation.pck import compute_pck
from evaluation.regression import regression_metrics
from modelcard import ModelCard
from service.tasks.arrays import checked
from service.tasks.evalsets import PoseSet, SequenceSet, crop_people
from service.tasks.forecast import check_horizon, to_history
from service.tasks.pose import input_size

Infer = Callable[[npt.NDArray[np.float32]], Awaitable[list[npt.NDArray[np.float32]]]]  # batch -> outputs
Progress = Callable[[int], None]  # samples done so far


def pck_arrays(**arrays: Any) -> dict[str, Any]:
    return checked(compute_pck, **arrays).to_dict()


def pck_coco(annotations: Any, results: Any, **options: Any) -> dict[str, Any]:
    return checked(pck_from_coco, annotations, results, **options).to_dict()


def mse_arrays(predictions: Any, targets: Any) -> dict[str, Any]:
    return checked(regression_metrics, predictions, targets).to_dict()


def _chunks(count: int, size: int) -> Iterator[range]:
    return (range(start, min(start + size, count)) for start in range(0, count, size))


async def evaluate_pose(
    infer: Infer, card: ModelCard, dataset: PoseSet, batch_size: int, max_pixels: int, progress: Progress
) -> dict[str, Any]:
    """PCK of the model on COCO people in crop pixels, as `training.tasks.pose` scores its test split."""
    size = input_size(card)
    predicted, truth, flags = [], [], []
    for rows in _chunks(dataset.count, batch_size):
        crops = await asyncio.to_thread(crop_people, dataset, rows, size, card.preprocessing.pad_value, max_pixels)
        predicted.append((await infer(crops.inputs))[0])
        truth.append(crops.keypoints)
        flags.append(crops.visibility)
        progress(rows.stop)
    scale = np.array([size[1], size[0]], np.float64)  # [0, 1] -> crop pixels
    ground_truth, visibility = np.concatenate(truth), np.concatenate(flags)
    # Joints nobody labelled are never scored; let them into the mean so mean_pose accepts small sets.
    labelled_somewhere = np.any(visibility > 0, axis=0, keepdims=True)  # (1, K)
    for_mean = np.where(labelled_somewhere, visibility, 1)
    baseline = checked(mean_pose, ground_truth / scale, for_mean) * scale
    occluded = np.where(visibility == 1, 1, 0)  # occluded joints scored on their own as well
    prediction = np.concatenate(predicted) * scale
    options = {"joint_names": card.keypoint_names}
    return {
        "pck": pck_arrays(predictions=prediction, ground_truth=ground_truth, visibility=visibility, **options),
        "pck_occluded": pck_arrays(predictions=prediction, ground_truth=ground_truth, visibility=occluded, **options),
        "baselines": {
            "mean_pose": {
                "pck": pck_arrays(
                    predictions=np.broadcast_to(baseline, ground_truth.shape),
                    ground_truth=ground_truth,
                    visibility=visibility,
                    **options,
                ),
                "source": "the mean pose of the uploaded set (the card holds no training mean)",
            }
        },
        "test_samples": dataset.count,
    }


async def evaluate_sequences(
    infer: Infer, card: ModelCard, dataset: SequenceSet, batch_size: int, progress: Progress
) -> dict[str, Any]:
    """Forecast errors beside the persistence baselines, as `training.tasks.sequences` reports them."""
    horizon = check_horizon(card, dataset.targets.shape[1])
    forecasts = []
    for rows in _chunks(dataset.count, batch_size):
        batch = np.concatenate([to_history(dataset.sequences[i], card, f"sequences[{i}]") for i in rows])
        (output,) = await infer(batch)
        forecasts.append(output[:, :horizon].reshape(len(rows), horizon, *dataset.targets.shape[2:]))
        progress(rows.stop)
    forecast, targets, history = np.concatenate(forecasts), dataset.targets, dataset.sequences
    if card.task == "frames":
        return {
            "model": _frame_summary(forecast, targets),
            "baselines": {"copy_last_frame": _frame_summary(copy_last_frame(history, horizon), targets)},
            "test_samples": dataset.count,
        }
    baselines = checked(forecast_baselines, history, horizon)
    return {
        "model": mse_arrays(forecast, targets),
        "baselines": {name: mse_arrays(values, targets) for name, values in baselines.items()},
        "test_samples": dataset.count,
    }


def _frame_summary(predicted: npt.NDArray[Any], targets: npt.NDArray[Any]) -> dict[str, Any]:
    """Frames report overall and per-step errors only: per-pixel figures would be thousands of numbers."""
    result = mse_arrays(predicted, targets)
    return {key: result[key] for key in ("mse", "rmse", "mae", "per_step")}
