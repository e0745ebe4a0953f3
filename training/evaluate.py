"""Evaluate a checkpoint (through torch) or an exported version (through onnxruntime) on its test split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from evaluation.keypoints import VISIBILITY_OCCLUDED
from evaluation.pck import compute_pck
from modelcard import CARD_FILENAME, MODEL_FILENAME, ModelCard, file_sha256
from training.checkpoint import Checkpoint
from training.config import TrainConfig
from training.export import evaluation_extra, onnx_predictor
from training.tasks import task_for
from training.tasks.base import predict_in_batches, torch_predictor


def evaluate_checkpoint(path: Path) -> tuple[str, dict[str, Any], dict[str, float]]:
    """(task, metrics, headline row) of a checkpoint's model on its regenerated test split."""
    state = Checkpoint.load(path)
    model = state.build_model()
    task = task_for(model.io_spec().task)
    predict = torch_predictor(model)
    intervals = task.calibrate(predict, state.train_config)
    metrics = task.evaluate(predict, task.test_split(state.train_config), evaluation_extra(state.extra, intervals))
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
    metrics = task.evaluate(onnx_predictor(onnx_path), test, evaluation_extra(card.training["extra"], card.intervals))
    return card, metrics, task.headline(metrics)


def occluded_joint_comparison(sequence_dir: Path, single_frame_dir: Path) -> dict[str, Any]:
    """PCK on the joints occluded in the last frame: the sequence model vs a single-frame model on that frame.

    Both run through onnxruntime on the sequence model's freshly generated test split; only points with COCO
    visibility 1 (labelled but covered) count.
    """
    card = ModelCard.read(sequence_dir / CARD_FILENAME)
    test = task_for(card.task).test_split(TrainConfig.from_dict(card.training["config"]))
    scale = np.array(test["inputs"].shape[-1:-3:-1], np.float32)  # (W, H): [0, 1] -> pixels
    ground_truth, visibility = test["keypoints"] * scale, test["visibility"]
    last_frame = test["inputs"][:, -1]
    if ModelCard.read(single_frame_dir / CARD_FILENAME).inputs[0].datatype == "UINT8":
        last_frame = np.rint(last_frame * 255).astype(np.uint8)  # the frames are uint8 pixels / 255: exact
    results = {}
    for label, directory, inputs in (
        ("sequence", sequence_dir, test["inputs"]),
        ("single_frame", single_frame_dir, last_frame),
    ):
        keypoints, _ = predict_in_batches(onnx_predictor(directory / MODEL_FILENAME), [inputs])
        occluded = visibility == VISIBILITY_OCCLUDED
        results[label] = compute_pck(keypoints * scale, ground_truth, visibility, score_only=occluded).to_dict()
    return results
