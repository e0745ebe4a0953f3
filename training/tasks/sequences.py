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

from evaluation.baselines import copy_last_frame, forecast_baselines
from evaluation.keypoints import COCO_KEYPOINT_NAMES, COCO_SKELETON
from evaluation.regression import regression_metrics
from models import PosecastModel
from training.config import TrainConfig
from training.data.arrays import load_windows
from training.data.motion import MotionConfig, motion_batch
from training.data.moving_digits import MovingDigitsConfig, moving_digits_batch
from training.data.splits import compute_stats, split_indices
from training.tasks.base import Arrays, Predictor, Task, TaskData, predict_in_batches


def _datasets(inputs: npt.NDArray[Any], targets: npt.NDArray[Any], rows: Any) -> TensorDataset:
    return TensorDataset(torch.from_numpy(inputs[rows]), torch.from_numpy(targets[rows]))


def _horizon_of(model: PosecastModel) -> int:
    return int(getattr(model, "config").horizon)  # noqa: B009  (every sequence model has one)


class ForecastTask(Task):
    """History (N, L, D) -> the next H steps (N, H, D); D flattens keypoints (17 x 2) or a series' columns."""

    card_task = "forecast"

    def prepare(self, config: TrainConfig) -> TaskData:
        data = config.data
        length, horizon = data.input_length, data.horizon
        if data.kind == "motion":
            motion = MotionConfig(num_frames=length + horizon, **data.options)
            keypoints, _, _ = motion_batch(data.seed, range(data.num_samples), motion)
            sequences = keypoints.reshape(len(keypoints), length + horizon, -1).astype(np.float32)  # (N, T, 34)
            inputs, targets = sequences[:, :length], sequences[:, length:]
            feature_shape, shuffle = list(keypoints.shape[2:]), True
        elif data.kind == "arrays":
            if not data.path:
                raise ValueError("data.kind = 'arrays' needs data.path: a .npz or .csv file")
            windows = load_windows(data.path, length, horizon, stride=data.stride)
            inputs, targets = windows.inputs, windows.targets
            feature_shape, shuffle = [inputs.shape[-1]], False  # contiguous splits: no leakage between windows
        else:
            raise ValueError(f"forecast models train on data.kind 'motion' or 'arrays', not {data.kind!r}")
        split = split_indices(len(inputs), data.fractions, seed=data.seed, shuffle=shuffle)
        stats = compute_stats(inputs, split.train, axis=-1)
        return TaskData(
            train=_datasets(inputs, targets, split.train),
            val=_datasets(inputs, targets, split.val),
            test={"inputs": inputs[split.test], "targets": targets[split.test]},
            model_overrides={
                "num_features": inputs.shape[-1],
                "horizon": horizon,
                "feature_mean": list(stats.mean),
                "feature_std": list(stats.std),
            },
            extra={
                "feature_shape": feature_shape,
                "keypoints": data.kind == "motion",
                "period": data.options.get("period"),
            },
        )

    def loss(self, model: PosecastModel, batch: list[torch.Tensor]) -> torch.Tensor:
        history, target = batch
        if getattr(model, "teacher_forcing", False) or getattr(
            getattr(model, "module", None), "teacher_forcing", False
        ):
            return F.mse_loss(model(history, target=target), target)
        return F.mse_loss(model(history)[:, : target.shape[1]], target)

    def test_inputs(self, test: Arrays) -> list[npt.NDArray[np.float32]]:
        return [test["inputs"]]

    def evaluate(self, predict: Predictor, test: Arrays, extra: dict[str, Any]) -> dict[str, Any]:
        targets = test["targets"]
        (forecast,) = predict_in_batches(predict, self.test_inputs(test))
        baselines = forecast_baselines(test["inputs"], targets.shape[1], period=extra.get("period"))
        return {
            "model": regression_metrics(forecast[:, : targets.shape[1]], targets).to_dict(),
            "baselines": {name: regression_metrics(b, targets).to_dict() for name, b in baselines.items()},
            "test_samples": len(targets),
        }

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

    def prepare(self, config: TrainConfig) -> TaskData:
        data = config.data
        if data.kind != "moving_digits":
            raise ValueError(f"frame forecasters train on data.kind 'moving_digits', not {data.kind!r}")
        digits = MovingDigitsConfig(input_frames=data.input_length, target_frames=data.horizon, **data.options)
        inputs, targets = moving_digits_batch(data.seed, range(data.num_samples), digits)
        split = split_indices(len(inputs), data.fractions, seed=data.seed)
        return TaskData(
            train=_datasets(inputs, targets, split.train),
            val=_datasets(inputs, targets, split.val),
            test={"inputs": inputs[split.test], "targets": targets[split.test]},
            model_overrides={"horizon": data.horizon, "frame_size": (digits.canvas, digits.canvas)},
            extra={"feature_shape": list(inputs.shape[2:])},
        )

    def loss(self, model: PosecastModel, batch: list[torch.Tensor]) -> torch.Tensor:
        frames, target = batch
        return F.mse_loss(model(frames)[:, : target.shape[1]], target)

    def test_inputs(self, test: Arrays) -> list[npt.NDArray[np.float32]]:
        return [test["inputs"]]

    def evaluate(self, predict: Predictor, test: Arrays, extra: dict[str, Any]) -> dict[str, Any]:
        targets = test["targets"]
        (forecast,) = predict_in_batches(predict, self.test_inputs(test), batch_size=16)
        horizon = targets.shape[1]

        def summary(predicted: npt.NDArray[Any]) -> dict[str, Any]:
            result = regression_metrics(
                predicted.reshape(len(predicted), horizon, -1), targets.reshape(len(targets), horizon, -1)
            )
            return {"mse": result.mse, "rmse": result.rmse, "mae": result.mae, "per_step": result.per_step.to_dict()}

        return {
            "model": summary(forecast[:, :horizon]),
            "baselines": {"copy_last_frame": summary(copy_last_frame(test["inputs"], horizon))},
            "test_samples": len(targets),
        }

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
