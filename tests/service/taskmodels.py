"""Small real ONNX models, one per task, with the cards the exporter writes, for the /v1 endpoint tests.

The pose model is the registry's `pose_cnn` through `training.onnx_export.export_onnx` (the real exporter); the
sequence models are tiny torch modules shaped like the registry's (normalization inside the graph, causal
horizon), exported the same way as the other service fixtures so the suite stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evaluation.keypoints import COCO_KEYPOINT_NAMES, COCO_SKELETON
from modelcard import ForecastIntervals, Preprocessing, SequenceLimits, TensorSpec
from tests.service.conftest import _export, add_version

POSE_SIZE = (48, 64)  # (H, W): not square, so letterboxing pads one side or the other
SEQPOSE_SIZE = (32, 32)
KEYPOINT_HORIZON, SERIES_HORIZON, FRAMES_HORIZON = 4, 6, 3
# The series model's card, as a forecaster trained on a user series writes it: calibrated intervals (half-widths
# growing with the step, per feature) and its test comparison with the best baseline.
SERIES_INTERVALS = ForecastIntervals(
    calibration_windows=40,
    half_widths={
        level: [[factor * (step + 1) * (feature + 1) for feature in range(3)] for step in range(SERIES_HORIZON)]
        for level, factor in (("0.8", 0.5), ("0.95", 1.0))
    },
)
SERIES_METRICS = {"best_baseline": {"name": "seasonal_naive_drift", "rmse": 2.0, "model_rmse": 1.5, "ratio": 0.75}}
FRAME_SHAPE = (1, 16, 16)
PAD = 114 / 255
KEYPOINTS = {"keypoint_names": list(COCO_KEYPOINT_NAMES), "skeleton": [list(edge) for edge in COCO_SKELETON]}


def spec(name: str, shape: list[int]) -> TensorSpec:
    return TensorSpec(name=name, datatype="FP32", shape=shape)


def export_models(out: Path) -> dict[str, Path]:
    """pose (pose_cnn), keypoints and series forecasters, a frame forecaster and a sequence-pose model."""
    import torch

    from models import create_model
    from training.onnx_export import export_onnx

    torch.manual_seed(0)

    class Forecaster(torch.nn.Module):
        """(B, T, D) -> (B, H, D): a linear map of the normalized mean, added to the last step, denormalized."""

        def __init__(self, features: int, horizon: int) -> None:
            super().__init__()
            self.horizon, self.features = horizon, features
            self.head = torch.nn.Linear(features, horizon * features)
            self.register_buffer("mean", torch.linspace(-1, 1, features))
            self.register_buffer("std", torch.linspace(0.5, 2, features))

        def forward(self, history: torch.Tensor) -> torch.Tensor:
            x = (history - self.mean) / self.std
            steps = self.head(x.mean(dim=1)).view(-1, self.horizon, self.features) * 0.1 + x[:, -1:]
            return steps * self.std + self.mean  # (B, H, D)

    class Frames(torch.nn.Module):
        """(B, T, 1, 16, 16) -> (B, 3, 1, 16, 16) in [0, 1]."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(1, FRAMES_HORIZON, 3, padding=1)

        def forward(self, frames: torch.Tensor) -> torch.Tensor:
            return torch.sigmoid(self.conv(frames[:, -1])).unsqueeze(2)  # (B, 3, 1, 16, 16)

    class SequencePose(torch.nn.Module):
        """(B, T, 3, 32, 32) -> keypoints (B, 17, 2) in [0, 1] and confidence (B, 17) of the last frame."""

        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 4, stride=4)
            self.head = torch.nn.Linear(4 * 8 * 8, 17 * 3)

        def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            summary = frames.mean(dim=1) * 0.5 + frames[:, -1] * 0.5  # (B, 3, 32, 32)
            h = self.head(torch.relu(self.conv(summary)).flatten(1)).view(-1, 17, 3)
            return torch.sigmoid(h[..., :2]), torch.sigmoid(h[..., 2])

    batch, time_ = torch.export.Dim("batch"), torch.export.Dim("time", min=2)
    sequence_axes = {0: batch, 1: time_}
    pose = create_model("pose_cnn", widths=[4, 8, 8, 8], input_size=POSE_SIZE, dropout=0.0)
    return {
        "pose": export_onnx(pose, out / "pose.onnx"),
        "keypoints": _export(
            Forecaster(34, KEYPOINT_HORIZON),
            torch.randn(2, 5, 34),
            out / "keypoints.onnx",
            (["history"], ["forecast"]),
            {"history": sequence_axes},
        ),
        "series": _export(
            Forecaster(3, SERIES_HORIZON),
            torch.randn(2, 5, 3),
            out / "series.onnx",
            (["history"], ["forecast"]),
            {"history": sequence_axes},
        ),
        "frames": _export(
            Frames(),
            torch.rand(2, 4, *FRAME_SHAPE),
            out / "frames.onnx",
            (["frames"], ["forecast"]),
            {"frames": sequence_axes},
        ),
        "seqpose": _export(
            SequencePose(),
            torch.rand(2, 3, 3, *SEQPOSE_SIZE),
            out / "seqpose.onnx",
            (["frames"], ["keypoints", "confidence"]),
            {"frames": sequence_axes},
        ),
    }


def write_repository(root: Path, files: dict[str, Path]) -> Path:
    """One version per model with the card fields `training.tasks` writes for its task."""
    pose_out = [spec("keypoints", [-1, 17, 2]), spec("confidence", [-1, 17])]
    image = Preprocessing(input_size=POSE_SIZE, resize="letterbox", pad_value=PAD, mean=[0.5] * 3, std=[0.25] * 3)
    add_version(
        root,
        "pose",
        1,
        files["pose"],
        ([TensorSpec(name="image", datatype="UINT8", shape=[-1, 3, *POSE_SIZE])], pose_out),  # pose_cnn takes uint8
        preprocessing=image,
        **KEYPOINTS,
    )
    forecasts: dict[str, tuple[int, list[int], dict[str, Any]]] = {
        "keypoints": (KEYPOINT_HORIZON, [17, 2], KEYPOINTS),
        "series": (SERIES_HORIZON, [3], {"intervals": SERIES_INTERVALS, "metrics": SERIES_METRICS}),
    }
    for name, (horizon, step, extra) in forecasts.items():
        features = 34 if step == [17, 2] else 3
        io = ([spec("history", [-1, -1, features])], [spec("forecast", [-1, horizon, features])])
        limits = SequenceLimits(min_input_length=2, max_input_length=32, max_horizon=horizon, feature_shape=step)
        add_version(root, name, 1, files[name], io, task="forecast", sequence=limits, **extra)
    frames_io = ([spec("frames", [-1, -1, *FRAME_SHAPE])], [spec("forecast", [-1, FRAMES_HORIZON, *FRAME_SHAPE])])
    limits = SequenceLimits(min_input_length=2, max_horizon=FRAMES_HORIZON, feature_shape=list(FRAME_SHAPE))
    add_version(root, "frames", 1, files["frames"], frames_io, task="frames", sequence=limits)
    seqpose_io = ([spec("frames", [-1, -1, 3, *SEQPOSE_SIZE])], pose_out)
    small = Preprocessing(input_size=SEQPOSE_SIZE, resize="letterbox", pad_value=PAD)
    limits = SequenceLimits(min_input_length=2, max_input_length=8, feature_shape=[3, *SEQPOSE_SIZE])
    add_version(
        root,
        "seqpose",
        1,
        files["seqpose"],
        seqpose_io,
        task="sequence_pose",
        sequence=limits,
        preprocessing=small,
        **KEYPOINTS,
    )
    return root
