"""Metrics for the evaluation endpoints, computed by `evaluation` (the code training reports with).

The model runs go through a caller-given `infer` (the served model's batcher); the metric dictionaries have
the layout `training.tasks` writes into model cards, so an API number and a CLI number line up key by key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from evaluation.baselines import mean_pose
from evaluation.coco import CocoDetections, read_coco_ground_truth, read_coco_results
from evaluation.keypoint_ap import COCO_OKS_SIGMAS, coco_keypoint_ap
from evaluation.matching import pck_from_coco
from evaluation.pck import compute_pck
from evaluation.regression import regression_metrics
from evaluation.task_reports import forecast_report, frames_report, pose_report
from modelcard import ModelCard
from modelcard.letterbox import COCO_INDEX_TO_CONTINUOUS, Letterbox
from service.model import Infer
from service.tasks.arrays import checked
from service.tasks.evalsets import PoseSet, SequenceSet, crop_people
from service.tasks.forecast import check_horizon, to_history
from service.tasks.pose import infer_keypoints
from service.tasks.pose_inputs import input_size

Progress = Callable[[int], None]  # samples done so far


def pck_arrays(**arrays: Any) -> dict[str, Any]:
    return checked(compute_pck, **arrays).to_dict()


def pck_coco(annotations: Any, results: Any, **options: Any) -> dict[str, Any]:
    return checked(pck_from_coco, annotations, results, **options).to_dict()


def keypoint_ap_coco(annotations: Any, results: Any, sigmas: list[float] | None = None) -> dict[str, Any]:
    """COCO keypoint AP/AR (OKS) of a results list against an annotation file, as pycocotools computes them."""
    truth = checked(read_coco_ground_truth, annotations)
    detections = checked(read_coco_results, results, truth)
    return checked(coco_keypoint_ap, truth, detections, sigmas=sigmas).to_dict()


def mse_arrays(predictions: Any, targets: Any) -> dict[str, Any]:
    return checked(regression_metrics, predictions, targets).to_dict()


def _chunks(count: int, size: int) -> Iterator[range]:
    return (range(start, min(start + size, count)) for start in range(0, count, size))


async def evaluate_pose(
    infer: Infer, card: ModelCard, dataset: PoseSet, batch_size: int, max_pixels: int, progress: Progress
) -> dict[str, Any]:
    """PCK of the model on COCO people in crop pixels, as `training.tasks.pose` scores its test split."""
    size = input_size(card)
    predicted, confidence, truth, flags, mappings = [], [], [], [], []
    people_per_run = max(1, batch_size // 2) if card.pose_spec.flip else batch_size  # mirrors share the run
    for rows in _chunks(dataset.count, people_per_run):
        crops = await asyncio.to_thread(crop_people, dataset, rows, size, card.pose_spec, max_pixels)
        points, scores = await infer_keypoints(infer, card, crops.inputs, card.pose_spec.flip)
        predicted.append(points)
        confidence.append(scores)
        truth.append(crops.keypoints)
        flags.append(crops.visibility)
        mappings += crops.mappings
        progress(rows.stop)
    scale = np.array([size[1], size[0]], np.float64)  # [0, 1] -> crop pixels
    ground_truth, visibility = np.concatenate(truth), np.concatenate(flags)
    trained_mean = card.training.get("extra", {}).get("mean_pose")
    if trained_mean is not None:
        mean, source = np.asarray(trained_mean) * scale, "the mean pose of the model's training split"
    else:
        # Joints nobody labelled are never scored; let them into the mean so mean_pose accepts small sets.
        for_mean = np.where(np.any(visibility > 0, axis=0, keepdims=True), visibility, 1)
        mean, source = checked(mean_pose, ground_truth / scale, for_mean) * scale, "the mean pose of the uploaded set"
    in_crops = np.concatenate(predicted)
    report = await asyncio.to_thread(
        checked, pose_report, in_crops, ground_truth, visibility, mean, card.keypoint_names
    )
    report["baselines"]["mean_pose"]["source"] = source
    report["coco"] = await asyncio.to_thread(
        _keypoint_ap_of_crops, dataset, in_crops, np.concatenate(confidence), mappings
    )
    return report


def _keypoint_ap_of_crops(
    dataset: PoseSet, in_crops: npt.NDArray[np.float64], confidence: npt.NDArray[np.float32], mappings: list[Letterbox]
) -> dict[str, Any]:
    """COCO keypoint AP of the predictions mapped back to image pixels, one detection per ground-truth box, scored
    by its mean confidence (top-down with ground-truth boxes, as MMPose reports it); skipped, saying why, for a
    keypoint layout without OKS sigmas."""
    if in_crops.shape[1] != len(COCO_OKS_SIGMAS):
        return {"skipped": f"OKS needs a sigma per keypoint; COCO's are for 17, this model has {in_crops.shape[1]}"}
    in_image = np.stack([mapping.to_source(points) for mapping, points in zip(mappings, in_crops, strict=True)])
    detections = CocoDetections(
        image_ids=dataset.truth.annotation_image_ids[dataset.rows],
        keypoints=in_image - COCO_INDEX_TO_CONTINUOUS,  # continuous pixels -> COCO's pixel-index convention
        scores=confidence.mean(axis=1).astype(np.float64),
    )
    return checked(coco_keypoint_ap, dataset.truth, detections).to_dict()


async def evaluate_sequences(
    infer: Infer, card: ModelCard, dataset: SequenceSet, batch_size: int, progress: Progress
) -> dict[str, Any]:
    """Forecast errors beside the persistence baselines, as `training.tasks.sequences` reports them."""
    horizon = check_horizon(card, dataset.targets.shape[1])
    output_name = card.outputs[0].name
    forecasts = []
    for rows in _chunks(dataset.count, batch_size):
        batch = await asyncio.to_thread(_histories, dataset, rows, card)
        output = (await infer({card.inputs[0].name: batch}))[output_name]
        forecasts.append(output[:, :horizon].reshape(len(rows), horizon, *dataset.targets.shape[2:]))
        progress(rows.stop)
    forecast, targets, history = np.concatenate(forecasts), dataset.targets, dataset.sequences
    if card.task == "frames":
        return await asyncio.to_thread(checked, frames_report, forecast, targets, history)
    period = card.training.get("extra", {}).get("period")
    intervals = card.intervals.half_widths if card.intervals else None
    return await asyncio.to_thread(checked, forecast_report, forecast, targets, history, period, intervals)


def _histories(dataset: SequenceSet, rows: range, card: ModelCard) -> npt.NDArray[np.float32]:
    """The model inputs of `rows`, checked and reshaped as the forecast endpoint does (blocking)."""
    return np.concatenate([to_history(dataset.sequences[i], card, f"sequences[{i}]") for i in rows])
