"""The `posecast` command-line client against the real task server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from cli.main import main, parser
from service.settings import CLIENT_VARIABLES, unknown_variables
from tests.evaluation.test_keypoint_ap import pycocotools_eval, random_coco
from tests.service.conftest import Server


def run(capsys: pytest.CaptureFixture[str], server: Server, *args: str) -> tuple[int, Any, str]:
    code = main(["--url", server.url, *args])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else None, captured.err


def test_models_pose_and_render(capsys: pytest.CaptureFixture[str], task_server: Server, tmp_path: Path) -> None:
    code, models, _ = run(capsys, task_server, "models")
    assert code == 0
    assert {m["name"] for m in models} == {"pose", "keypoints", "series", "frames", "seqpose"}
    photo = tmp_path / "photo.jpg"
    Image.new("RGB", (50, 70), (120, 80, 40)).save(photo)
    code, body, _ = run(capsys, task_server, "pose", str(photo), str(photo))
    assert code == 0
    assert body["model_name"] == "pose"
    assert len(body["results"]) == 2
    drawn = tmp_path / "drawn.png"
    code, body, _ = run(capsys, task_server, "pose", str(photo), "--model", "pose", "--render", str(drawn))
    assert code == 0
    with Image.open(drawn) as image:
        assert image.size == (50, 70)


def test_forecast_from_npy_and_errors(capsys: pytest.CaptureFixture[str], task_server: Server, tmp_path: Path) -> None:
    sequence = tmp_path / "seq.npy"
    np.save(sequence, np.random.default_rng(0).normal(size=(8, 17, 2)).astype(np.float32))
    code, body, _ = run(capsys, task_server, "forecast", str(sequence), "--horizon", "2", "--model", "keypoints")
    assert code == 0
    assert body["shape"] == [2, 17, 2]
    code, _, err = run(capsys, task_server, "forecast", str(sequence), "--horizon", "10", "--model", "keypoints")
    assert code == 1
    assert "HTTP 400: horizon must be between 1 and 4" in err
    series = tmp_path / "series.npy"
    np.save(series, np.random.default_rng(1).normal(size=(8, 3)).astype(np.float32))
    code, body, _ = run(capsys, task_server, "forecast", str(series), "--model", "series", "--intervals", "0.8,0.95")
    assert code == 0
    assert sorted(body["intervals"]) == ["0.8", "0.95"]
    assert np.all(np.array(body["intervals"]["0.8"]["lower"]) < np.array(body["forecast"]))


def test_evaluate_mse_and_a_model_job(capsys: pytest.CaptureFixture[str], task_server: Server, tmp_path: Path) -> None:
    predictions, targets = tmp_path / "p.npy", tmp_path / "t.npy"
    np.save(predictions, np.ones((2, 3, 4)))
    np.save(targets, np.zeros((2, 3, 4)))
    code, body, _ = run(capsys, task_server, "evaluate", "mse", str(predictions), str(targets))
    assert code == 0
    assert body["mse"] == 1.0
    rng = np.random.default_rng(1)
    dataset = tmp_path / "set.npz"
    np.savez(dataset, sequences=rng.normal(size=(12, 5, 3)), targets=rng.normal(size=(12, 2, 3)))
    code, body, err = run(
        capsys, task_server, "evaluate", "model", str(dataset), "--model", "series", "--poll-s", "0.05"
    )
    assert code == 0, err
    assert body["metrics"]["test_samples"] == 12
    assert "last_value" in body["metrics"]["baselines"]
    code, _, err = run(capsys, task_server, "evaluate", "pck")
    assert code == 1
    assert "--annotations" in err


def test_evaluate_oks(capsys: pytest.CaptureFixture[str], task_server: Server, tmp_path: Path) -> None:
    dataset, results = random_coco(5)
    annotations, detections = tmp_path / "gt.json", tmp_path / "dt.json"
    annotations.write_text(json.dumps(dataset))
    detections.write_text(json.dumps(results))
    code, body, err = run(capsys, task_server, "evaluate", "oks", "--annotations", str(annotations),
                          "--results", str(detections))  # fmt: skip
    assert code == 0, err
    assert body["AP"] == pytest.approx(pycocotools_eval(tmp_path, dataset, results).stats[0], abs=1e-6)


def test_the_client_reads_the_variables_the_server_calls_the_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in CLIENT_VARIABLES:
        monkeypatch.setenv(name, f"from {name}")
    read = set(vars(parser().parse_args(["models"])).values())
    assert {f"from {name}" for name in CLIENT_VARIABLES} <= read
    assert unknown_variables(dict.fromkeys(CLIENT_VARIABLES, "x")) == sorted(CLIENT_VARIABLES)  # named at start-up


def test_a_reader_that_leaves_early_gets_no_traceback(task_server: Server) -> None:
    """`posecast models | head -1`: the pipe closes before the answer is written."""
    reader, writer = os.pipe()
    os.close(reader)
    try:
        command = [sys.executable, "-m", "cli", "--url", task_server.url, "models"]
        result = subprocess.run(command, stdout=writer, stderr=subprocess.PIPE, text=True, timeout=60, check=False)
    finally:
        os.close(writer)
    assert (result.returncode, result.stderr) == (1, "")
