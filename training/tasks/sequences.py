"""Sequence tasks: keypoint or multivariate forecasts (`forecast`) and frame forecasts (`frames`).

Forecasts train with MSE on the model's own units (sequence models normalize inside the graph with statistics
fitted on the train split) and report MSE/RMSE/MAE overall, per step and per feature, with the persistence
baselines beside them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from evaluation.keypoints import COCO_KEYPOINT_NAMES, COCO_SKELETON, NUM_COCO_KEYPOINTS
from evaluation.task_reports import forecast_report, frames_report
from models import PosecastModel
from training.config import TrainConfig
from training.data.arrays import load_windows
from training.data.motion import MotionConfig, motion_batch
from training.data.moving_digits import MovingDigitsConfig, moving_digits_batch
from training.data.splits import compute_stats, split_indices
from training.tasks.base import Arrays, Predictor, Task, TaskData, predict_in_batches

Windows = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]  # (inputs, targets)


def _dataset(inputs: npt.NDArray[np.float32], targets: npt.NDArray[np.float32]) -> TensorDataset:
    return TensorDataset(torch.from_numpy(inputs), torch.from_numpy(targets))


def _test_arrays(inputs: npt.NDArray[np.float32], targets: npt.NDArray[np.float32]) -> Arrays:
    return {"inputs": inputs, "targets": targets}


def _horizon_of(model: PosecastModel) -> int:
    return int(getattr(model, "config").horizon)  # noqa: B009  (every sequence model has one)


class ForecastTask(Task):
    """History (N, L, D) -> the next H steps (N, H, D); D flattens keypoints (17 x 2) or a series' columns."""

    card_task = "forecast"

    def _windows(self, config: TrainConfig, parts: tuple[str, ...]) -> tuple[dict[str, Windows], dict[str, Any]]:
        """(inputs (N, L, D), targets (N, H, D)) per requested part, and what the card needs to know of the data.

        Generated motion is drawn only for the requested indices; windows of user series are split in contiguous
        blocks so overlapping windows never leak validation or test steps into training.
        """
        data = config.data
        length, horizon = data.input_length, data.horizon
        if data.kind == "motion":
            motion = MotionConfig(num_frames=length + horizon, **data.options)
            split = split_indices(data.num_samples, data.fractions, seed=data.seed)
            windows = {}
            for part in parts:
                keypoints, _, _ = motion_batch(data.seed, getattr(split, part), motion)  # (N, T, 17, 2)
                sequences = keypoints.reshape(len(keypoints), length + horizon, -1).astype(np.float32)
                windows[part] = (sequences[:, :length], sequences[:, length:])
            return windows, {"feature_shape": [NUM_COCO_KEYPOINTS, 2], "keypoints": True}
        if data.kind == "arrays":
            if not data.path:
                raise ValueError("data.kind = 'arrays' needs data.path: a .npz or .csv file")
            loaded = load_windows(data.path, length, horizon, stride=data.stride)
            split = split_indices(len(loaded.inputs), data.fractions, seed=data.seed, shuffle=False)
            windows = {
                part: (loaded.inputs[getattr(split, part)], loaded.targets[getattr(split, part)]) for part in parts
            }
            return windows, {"feature_shape": [loaded.inputs.shape[-1]], "keypoints": False}
        raise ValueError(f"forecast models train on data.kind 'motion' or 'arrays', not {data.kind!r}")

    def prepare(self, config: TrainConfig) -> TaskData:
        windows, described = self._windows(config, ("train", "val", "test"))
        train_inputs = windows["train"][0]
        stats = compute_stats(train_inputs, axis=-1)
        return TaskData(
            train=_dataset(*windows["train"]),
            val=_dataset(*windows["val"]),
            test=_test_arrays(*windows["test"]),
            model_overrides={
                "num_features": train_inputs.shape[-1],
                "horizon": config.data.horizon,
                "feature_mean": list(stats.mean),
                "feature_std": list(stats.std),
            },
            extra={**described, "period": config.data.options.get("period")},
        )

    def test_split(self, config: TrainConfig) -> Arrays:
        windows, _ = self._windows(config, ("test",))
        return _test_arrays(*windows["test"])

    def loss(self, model: PosecastModel, batch: list[torch.Tensor]) -> torch.Tensor:
        history, target = batch
        # Trained on its own autoregressive rollout, as it is served: no exposure bias from teacher forcing.
        return F.mse_loss(model(history)[:, : target.shape[1]], target)

    def test_inputs(self, test: Arrays) -> list[npt.NDArray[np.float32]]:
        return [test["inputs"]]

    def evaluate(self, predict: Predictor, test: Arrays, extra: dict[str, Any]) -> dict[str, Any]:
        targets = test["targets"]
        (forecast,) = predict_in_batches(predict, self.test_inputs(test))
        return forecast_report(forecast[:, : targets.shape[1]], targets, test["inputs"], period=extra.get("period"))

    def headline(self, metrics: dict[str, Any]) -> dict[str, float]:
        row = {"MSE": metrics["model"]["mse"]}
        row |= {f"{name} MSE": result["mse"] for name, result in metrics["baselines"].items()}
        return row

    def card_fields(self, config: TrainConfig, model: PosecastModel, extra: dict[str, Any]) -> dict[str, Any]:
        model_config = getattr(model, "config")  # noqa: B009
        fields: dict[str, Any] = {
            "preprocessing": {"mean": model_config.feature_mean, "std": model_config.feature_std},
            "sequence": {
                "min_input_length": 1,
                "max_input_length": model_config.max_length,
                "max_horizon": model_config.horizon,
                "feature_shape": extra["feature_shape"],
            },
        }
        if extra.get("keypoints"):
            fields |= {"keypoint_names": list(COCO_KEYPOINT_NAMES), "skeleton": [list(e) for e in COCO_SKELETON]}
        return fields


class FramesTask(Task):
    """Frames (N, M, C, H, W) in [0, 1] -> the next N frames, against copy-last-frame."""

    card_task = "frames"

    def _windows(self, config: TrainConfig, parts: tuple[str, ...]) -> dict[str, Windows]:
        """(inputs (N, M, 1, 64, 64), targets (N, N', 1, 64, 64)) per part, drawn only for the part's indices."""
        data = config.data
        if data.kind != "moving_digits":
            raise ValueError(f"frame forecasters train on data.kind 'moving_digits', not {data.kind!r}")
        digits = MovingDigitsConfig(input_frames=data.input_length, target_frames=data.horizon, **data.options)
        split = split_indices(data.num_samples, data.fractions, seed=data.seed)
        return {part: moving_digits_batch(data.seed, getattr(split, part), digits) for part in parts}

    def prepare(self, config: TrainConfig) -> TaskData:
        windows = self._windows(config, ("train", "val", "test"))
        canvas = windows["train"][0].shape[-1]
        return TaskData(
            train=_dataset(*windows["train"]),
            val=_dataset(*windows["val"]),
            test=_test_arrays(*windows["test"]),
            model_overrides={"horizon": config.data.horizon, "frame_size": (canvas, canvas)},
            extra={"feature_shape": list(windows["train"][0].shape[2:])},
        )

    def test_split(self, config: TrainConfig) -> Arrays:
        return _test_arrays(*self._windows(config, ("test",))["test"])

    def loss(self, model: PosecastModel, batch: list[torch.Tensor]) -> torch.Tensor:
        frames, target = batch
        return F.mse_loss(model(frames)[:, : target.shape[1]], target)

    def test_inputs(self, test: Arrays) -> list[npt.NDArray[np.float32]]:
        return [test["inputs"]]

    def evaluate(self, predict: Predictor, test: Arrays, extra: dict[str, Any]) -> dict[str, Any]:
        targets = test["targets"]
        (forecast,) = predict_in_batches(predict, self.test_inputs(test), batch_size=16)
        return frames_report(forecast[:, : targets.shape[1]], targets, test["inputs"])

    def headline(self, metrics: dict[str, Any]) -> dict[str, float]:
        return {"MSE": metrics["model"]["mse"], "copy_last_frame MSE": metrics["baselines"]["copy_last_frame"]["mse"]}

    def card_fields(self, config: TrainConfig, model: PosecastModel, extra: dict[str, Any]) -> dict[str, Any]:
        return {
            "sequence": {
                "min_input_length": 1,
                "max_horizon": _horizon_of(model),
                "feature_shape": extra["feature_shape"],
            }
        }
