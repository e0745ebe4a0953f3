"""Export into a versioned repository: the real exporter, its parity check, the card, Triton's config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from modelcard import ModelCard, file_sha256
from tests.training.conftest import TINY_FORECAST, TINY_FRAMES, tiny_config
from training import export as export_module
from training.config import TrainConfig
from training.evaluate import evaluate_version
from training.export import export_to_repository
from training.loop import fit
from training.onnx_export import ExportError
from training.tasks import ForecastTask, FramesTask, PoseTask


@pytest.fixture
def pose_checkpoint(pose_config: TrainConfig) -> Path:
    return fit(pose_config, PoseTask()).checkpoint_path


def test_export_writes_a_versioned_model_with_a_complete_card(pose_checkpoint: Path, tmp_path: Path) -> None:
    repository = tmp_path / "repo"
    first = export_to_repository(pose_checkpoint, repository)
    second = export_to_repository(pose_checkpoint, repository)
    assert (first.name, second.name) == ("1", "2")
    assert sorted(p.name for p in first.iterdir()) == ["model.json", "model.onnx"]
    assert first.stat().st_mode & 0o755 == 0o755, "readable by a server running as another user"
    assert not [p for p in (repository / "tiny_pose").iterdir() if p.name.startswith(".")], "no scratch left"
    card = ModelCard.read(first / "model.json")
    assert card.task == "pose"
    assert card.sha256 == file_sha256(first / "model.onnx")
    assert card.parity_max_abs_error is not None
    assert card.parity_max_abs_error <= 1e-4
    assert card.preprocessing.input_size == (32, 32)
    assert card.preprocessing.resize == "letterbox"
    assert card.keypoint_names is not None
    assert card.keypoint_names[5] == "left_shoulder"
    assert [(s.name, s.shape) for s in card.inputs] == [("image", [-1, 3, 32, 32])]
    assert [(s.name, s.shape) for s in card.outputs] == [("keypoints", [-1, 17, 2]), ("confidence", [-1, 17])]
    assert set(card.metrics["pck"]["pck"]) == {"0.05", "0.1", "0.2"}
    assert "mean_pose" in card.metrics["baselines"]
    assert card.training["config"]["model"] == "pose_cnn"
    assert set(card.environment) >= {"torch", "onnxruntime", "git_commit"}
    session = ort.InferenceSession(str(first / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    triton = (repository / "tiny_pose" / "config.pbtxt").read_text()
    assert 'platform: "onnxruntime_onnx"' in triton
    assert 'name: "keypoints"' in triton
    assert "dims: [ 17, 2 ]" in triton


def test_reevaluation_through_onnxruntime_matches_the_card(pose_checkpoint: Path, tmp_path: Path) -> None:
    version = export_to_repository(pose_checkpoint, tmp_path / "repo")
    card, metrics, headline = evaluate_version(version)
    assert json.dumps(metrics, sort_keys=True) == json.dumps(card.metrics, sort_keys=True)
    assert headline["PCK@0.2"] == card.metrics["pck"]["pck"]["0.2"]
    (version / "model.onnx").write_bytes((version / "model.onnx").read_bytes() + b"\0")
    with pytest.raises(ValueError, match="sha256"):
        evaluate_version(version)


def test_export_refuses_a_graph_that_disagrees_with_torch(
    pose_checkpoint: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1.2e-4 apart is a wrong graph for outputs in [0, 1], and float32 rounding for outputs near 370."""
    monkeypatch.setattr(export_module, "measure_parity", lambda *_: (1.2e-4, 0.9))
    with pytest.raises(ExportError, match="differs from torch"):
        export_to_repository(pose_checkpoint, tmp_path / "repo")
    assert not list((tmp_path / "repo" / "tiny_pose").glob("[0-9]*"))
    monkeypatch.setattr(export_module, "measure_parity", lambda *_: (1.2e-4, 370.0))
    assert export_to_repository(pose_checkpoint, tmp_path / "repo").name == "1"


def test_forecast_model_exports_with_baselines_and_limits(tmp_path: Path) -> None:
    config = tiny_config(TINY_FORECAST, tmp_path)
    version = export_to_repository(fit(config, ForecastTask()).checkpoint_path, tmp_path / "repo")
    card = ModelCard.read(version / "model.json")
    assert card.task == "forecast"
    assert card.sequence is not None
    assert (card.sequence.max_horizon, card.sequence.feature_shape) == (3, [17, 2])
    assert card.inputs[0].shape == [-1, -1, 34]
    assert set(card.metrics["baselines"]) == {"last_value", "constant_velocity", "drift"}
    assert len(card.metrics["model"]["per_step"]["mse"]) == 3
    assert card.preprocessing.mean is not None
    assert len(card.preprocessing.mean) == 34
    session = ort.InferenceSession(str(version / "model.onnx"), providers=["CPUExecutionProvider"])
    for length in (2, 6, 11):
        (forecast,) = session.run(None, {"history": np.zeros((2, length, 34), np.float32)})
        assert forecast.shape == (2, 3, 34)


def test_frame_forecaster_exports_against_copy_last_frame(tmp_path: Path) -> None:
    config = tiny_config(TINY_FRAMES, tmp_path)
    version = export_to_repository(fit(config, FramesTask()).checkpoint_path, tmp_path / "repo")
    card = ModelCard.read(version / "model.json")
    assert card.task == "frames"
    assert card.inputs[0].shape == [-1, -1, 1, 64, 64]
    assert card.metrics["model"]["mse"] > 0
    assert card.metrics["baselines"]["copy_last_frame"]["mse"] > 0
