"""Small configurations of every registered network, so the shared tests stay fast on two CPU cores."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from models import PosecastModel, create_model

SMALL_CONFIGS: dict[str, dict[str, Any]] = {
    "feedforward": {"in_features": 6, "hidden_features": [8, 8], "out_features": 3},
    "pose_cnn": {"num_keypoints": 5, "input_size": (32, 48), "widths": [4, 8, 8, 8]},
    "convlstm_forecaster": {
        "frame_size": (16, 16),
        "hidden_channels": [4, 4],
        "kernel_size": 3,
        "horizon": 3,
    },
    "convlstm_pose": {
        "num_keypoints": 5,
        "input_size": (32, 32),
        "widths": [4, 8, 8, 8],
        "hidden_channels": [6],
        "bidirectional": True,
    },
    "transformer_forecaster": {
        "num_features": 6,
        "d_model": 16,
        "num_heads": 2,
        "num_encoder_layers": 1,
        "num_decoder_layers": 1,
        "d_ff": 32,
        "horizon": 3,
        "max_length": 64,
    },
}


def small_model(name: str) -> PosecastModel:
    torch.manual_seed(0)
    return create_model(name, **SMALL_CONFIGS.get(name, {}))


def as_tuple(output: torch.Tensor | tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
    return output if isinstance(output, tuple) else (output,)


def has_time_axis(model: PosecastModel) -> bool:
    return any(1 in axes.dynamic for axes in model.io_spec().inputs)


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)
