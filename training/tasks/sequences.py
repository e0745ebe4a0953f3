"""Sequence tasks: keypoint or multivariate forecasts (`forecast`) and frame forecasts (`frames`).

Forecasts train with MSE on the model's own units (sequence models normalize inside the graph with statistics
fitted on the train split) and report MSE/RMSE/MAE overall, per step and per feature, with the persistence
baselines beside them.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from evaluation.intervals import conformal_half_widths
from evaluation.keypoints import COCO_KEYPOINT_NAMES, COCO_SKELETON, NUM_COCO_KEYPOINTS
from evaluation.seasonality import detect_season_length
from evaluation.task_reports import forecast_report, frames_report
from modelcard import ForecastIntervals
from models import PosecastModel
from training.config import TrainConfig
from training.data.arrays import load_windows, read_series, sliding_windows
from training.data.motion import MotionConfig, motion_batch
from training.data.moving_digits import MovingDigitsConfig, moving_digits_batch
from training.data.real_series import load_statsmodels_series
from training.data.splits import block_split, compute_stats, split_indices
from training.tasks.base import Arrays, Predictor, Task, TaskData, predict_in_batches

Windows = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]  # (inputs, targets)
USER_SERIES = ("arrays", "statsmodels")  # real series: chronological blocks, window normalization by default
logger = logging.getLogger(__name__)


def _user_series_windows(config: TrainConfig, parts: tuple[str, ...]) -> tuple[dict[str, Windows], dict[str, Any]]:
    """Windows of a user file or a statsmodels series, split into chronological blocks with a gap of the horizon
    between them, and the season length: the config's, else detected on the training steps."""
    data = config.data
    if not data.path:
        raise ValueError(f"data.kind = {data.kind!r} needs data.path: a .npz or .csv file, or a statsmodels dataset")
    series = [load_statsmodels_series(data.path)] if data.kind == "statsmodels" else read_series(data.path)
    if series is None:  # windows cut already: independent of each other, no season to detect
        loaded = load_windows(data.path, data.input_length, data.horizon)
        gap, season, source = 0, data.season_length, "config" if data.season_length else "none"
    else:
        loaded = sliding_windows(series, data.input_length, data.horizon, data.stride)
        gap = math.ceil(data.horizon / data.stride)
        season, source = data.season_length, "config"
        if season is None:
            training_steps = np.concatenate([part[: int(len(part) * data.fractions[0])] for part in series])
            season = detect_season_length(training_steps, max_lag=data.input_length)
            source = "detected" if season else "none"
            logger.info("season length detected from the training steps: %s", season or "none")
    split = block_split(len(loaded.inputs), data.fractions, gap)
    windows = {part: (loaded.inputs[getattr(split, part)], loaded.targets[getattr(split, part)]) for part in parts}
    described = {
        "feature_shape": [loaded.inputs.shape[-1]],
        "keypoints": False,
        "period": season,
        "season_length_source": source,
        "evaluation": f"rolling origin over the last block of windows, in time order; {gap} windows left out "
        "between blocks so that no step is a target in two of them",
    }
    return windows, described


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
            described = {
                "feature_shape": [NUM_COCO_KEYPOINTS, 2],
                "keypoints": True,
                "period": data.options.get("period"),
            }
            return windows, described
        if data.kind in USER_SERIES:
            return _user_series_windows(config, parts)
        raise ValueError(
            f"forecast models train on data.kind 'motion', {' or '.join(map(repr, USER_SERIES))}, not {data.kind!r}"
        )

    def prepare(self, config: TrainConfig) -> TaskData:
        windows, described = self._windows(config, ("train", "val", "test"))
        train_inputs = windows["train"][0]
        stats = compute_stats(train_inputs, axis=-1)
        normalize = config.data.normalize or ("window" if config.data.kind in USER_SERIES else "dataset")
        return TaskData(
            train=_dataset(*windows["train"]),
            val=_dataset(*windows["val"]),
            test=_test_arrays(*windows["test"]),
            model_overrides={
                "num_features": train_inputs.shape[-1],
                "horizon": config.data.horizon,
                "feature_mean": list(stats.mean),
                "feature_std": list(stats.std),
                "normalize": normalize,
            },
            extra=described,
        )

    def calibrate(self, predict: Predictor, config: TrainConfig) -> ForecastIntervals | None:
        """Split-conformal half-widths per horizon step and feature, from the validation block's residuals."""
        windows, _ = self._windows(config, ("val",))
        inputs, targets = windows["val"]
        levels = [level for level in config.data.interval_levels if math.ceil((len(inputs) + 1) * level) <= len(inputs)]
        for level in sorted(set(config.data.interval_levels) - set(levels)):
            logger.warning("%d validation windows are too few for a %g interval; it is left out", len(inputs), level)
        if not levels:
            return None
        (forecast,) = predict_in_batches(predict, [inputs])
        widths = conformal_half_widths(forecast[:, : targets.shape[1]], targets, inputs, levels)
        return ForecastIntervals(
            calibration_windows=len(inputs),
            half_widths={level: values.reshape(targets.shape[1], -1).tolist() for level, values in widths.items()},
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
        report = forecast_report(
            forecast[:, : targets.shape[1]], targets, test["inputs"], extra.get("period"), extra.get("intervals")
        )
        best = report["best_baseline"]
        if best["ratio"] >= 1:
            logger.warning(
                "the model loses to the %s baseline on the test block: RMSE %.4g vs %.4g",
                best["name"],
                best["model_rmse"],
                best["rmse"],
            )
        return report

    def headline(self, metrics: dict[str, Any]) -> dict[str, float]:
        best = metrics["best_baseline"]
        row = {"RMSE": metrics["model"]["rmse"], f"best baseline ({best['name']}) RMSE": best["rmse"]}
        row |= {f"{level} coverage": result["coverage"] for level, result in metrics.get("intervals", {}).items()}
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
