"""The training loop on real (tiny) data: checkpoints, early stopping, resume, determinism, the loss curve."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.training.conftest import TINY_POSE, tiny_config
from training.checkpoint import LAST_CHECKPOINT_NAME, Checkpoint
from training.config import TrainConfig
from training.loop import fit
from training.tasks import PoseTask


def test_fit_keeps_a_self_describing_best_checkpoint(pose_config: TrainConfig) -> None:
    result = fit(pose_config, PoseTask())
    state = Checkpoint.load(result.checkpoint_path)
    assert state.model_name == "pose_cnn"
    assert state.model_args["widths"] == [4, 8, 8, 8]
    assert state.config["data"]["num_samples"] == 48
    assert state.epoch == result.best_epoch
    assert state.best_val_loss == pytest.approx(min(h["val_loss"] for h in state.history[: state.epoch + 1]))
    assert state.optimizer_state["state"], "Adam moments are saved for resuming"
    rebuilt = state.build_model()
    assert all(torch.equal(rebuilt.state_dict()[k], v) for k, v in state.model_state.items())
    curve = pose_config.run_dir / "loss_curve.png"
    assert curve.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_early_stopping_ends_training_when_validation_stops_improving(tmp_path: Path) -> None:
    # With a huge min_delta no epoch after the first counts as an improvement.
    config = tiny_config(TINY_POSE, tmp_path, "optim.min_delta=1e9", "optim.epochs=10", "optim.patience=2")
    result = fit(config, PoseTask())
    assert result.stopped_early
    assert result.epochs_run == 3
    assert result.best_epoch == 0


def test_same_seed_gives_identical_weights(tmp_path: Path) -> None:
    first = fit(tiny_config(TINY_POSE, tmp_path / "a"), PoseTask()).model.state_dict()
    second = fit(tiny_config(TINY_POSE, tmp_path / "b"), PoseTask()).model.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = fit(tiny_config(TINY_POSE, tmp_path / "c", "seed=1"), PoseTask()).model.state_dict()
    assert not all(torch.equal(first[k], other[k]) for k in first)


def test_resume_continues_where_training_stopped(tmp_path: Path) -> None:
    straight = fit(tiny_config(TINY_POSE, tmp_path / "straight", "optim.epochs=3"), PoseTask())
    interrupted = tiny_config(TINY_POSE, tmp_path / "resumed", "optim.epochs=2")
    fit(interrupted, PoseTask())
    resumed_config = tiny_config(TINY_POSE, tmp_path / "resumed", "optim.epochs=3")
    resumed = fit(resumed_config, PoseTask(), resume=interrupted.run_dir / LAST_CHECKPOINT_NAME)
    assert resumed.epochs_run == 3
    history = Checkpoint.load(resumed_config.run_dir / LAST_CHECKPOINT_NAME).history
    assert [entry["epoch"] for entry in history] == [0, 1, 2]
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, rtol=1e-5, atol=1e-6)


def test_init_from_copies_matching_parameters(tmp_path: Path, pose_config: TrainConfig) -> None:
    source = fit(pose_config, PoseTask())
    warm = tiny_config(TINY_POSE, tmp_path / "warm", f'init_from="{source.checkpoint_path}"', "optim.learning_rate=0.0")
    result = fit(warm, PoseTask())
    loaded = Checkpoint.load(source.checkpoint_path).model_state
    assert all(
        torch.equal(result.model.state_dict()[k], v)
        for k, v in loaded.items()
        if "running" not in k and "num_batches" not in k
    )
