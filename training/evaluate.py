"""Evaluate a checkpoint (through torch) or an exported version (through onnxruntime) on its test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelcard import CARD_FILENAME, MODEL_FILENAME, ModelCard, file_sha256
from training.checkpoint import Checkpoint
from training.config import TrainConfig
from training.export import onnx_predictor
from training.tasks import task_for
from training.tasks.base import torch_predictor


def evaluate_checkpoint(path: Path) -> tuple[str, dict[str, Any], dict[str, float]]:
    """(task, metrics, headline row) of a checkpoint's model on its regenerated test split."""
    state = Checkpoint.load(path)
    model = state.build_model()
    task = task_for(model.io_spec().task)
    metrics = task.evaluate(torch_predictor(model), task.test_split(state.train_config), state.extra)
    return task.card_task, metrics, task.headline(metrics)


def evaluate_version(version_dir: Path) -> tuple[ModelCard, dict[str, Any], dict[str, float]]:
    """Re-run a repository version through onnxruntime on freshly generated test data.

    Fails when model.onnx no longer matches the card's sha256, so a number reported here is the shipped file's.
    """
    card = ModelCard.read(version_dir / CARD_FILENAME)
    onnx_path = version_dir / MODEL_FILENAME
    if (digest := file_sha256(onnx_path)) != card.sha256:
        raise ValueError(f"{onnx_path} has sha256 {digest}, but its card says {card.sha256}")
    task = task_for(card.task)
    test = task.test_split(TrainConfig.from_dict(card.training["config"]))  # deterministic from the data seed
    metrics = task.evaluate(onnx_predictor(onnx_path), test, card.training["extra"])
    return card, metrics, task.headline(metrics)
