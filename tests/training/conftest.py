"""Tiny but real training runs: every test here trains, exports and evaluates actual models on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import TrainConfig, load_config

TINY_POSE = [
    "model=pose_cnn",
    "name=tiny_pose",
    "model_args.input_size=[32, 32]",
    "model_args.widths=[4, 8, 8, 8]",
    "data.kind=synthetic_pose",
    "data.num_samples=48",
    "data.fractions=[0.5, 0.25, 0.25]",
    "data.options={person_height=[0.7, 0.9]}",
    "optim.batch_size=8",
    "optim.epochs=2",
]
TINY_FORECAST = [
    "model=transformer_forecaster",
    "name=tiny_motion",
    "model_args={d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=32, max_length=32}",
    "data.kind=motion",
    "data.num_samples=40",
    "data.input_length=6",
    "data.horizon=3",
    "optim.batch_size=8",
    "optim.epochs=2",
]
TINY_FRAMES = [
    "model=convlstm_forecaster",
    "name=tiny_digits",
    "model_args={hidden_channels=[4], kernel_size=3}",
    "data.kind=moving_digits",
    "data.num_samples=24",
    "data.input_length=4",
    "data.horizon=2",
    "optim.batch_size=8",
    "optim.epochs=1",
]


def tiny_config(base: list[str], tmp_path: Path, *extra: str) -> TrainConfig:
    return load_config(None, [*base, f'output_dir="{tmp_path / "runs"}"', *extra])


@pytest.fixture
def pose_config(tmp_path: Path) -> TrainConfig:
    return tiny_config(TINY_POSE, tmp_path)
