"""The committed demo models: each is re-evaluated through onnxruntime on freshly generated test data.

This checks the shipped files (sha256 against their cards), that the card's metrics are reproducible, and each
model's target from the training issue.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from training.evaluate import evaluate_version, occluded_joint_comparison

REPOSITORY = Path(__file__).parents[1] / "model_repository"


def _pck(metrics: dict[str, Any], threshold: str) -> float:
    return float(metrics["pck"]["pck"][threshold])


@pytest.fixture(scope="module")
def evaluated() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """name -> (card metrics, re-measured metrics) for version 1 of every demo model."""
    results = {}
    for version_dir in sorted(REPOSITORY.glob("*/1")):
        card, metrics, _ = evaluate_version(version_dir)  # raises when the sha256 does not match
        results[card.name] = (card.metrics, metrics)
    return results


def test_every_demo_model_is_shipped(evaluated: dict[str, Any]) -> None:
    assert sorted(evaluated) == ["digits_convlstm", "motion_transformer", "pose_cnn", "sequence_pose_convlstm"]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flatten(item, f"{prefix}/{key}").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _flatten(item, f"{prefix}/{i}").items()}
    return {prefix: value}


def test_card_metrics_reproduce(evaluated: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Fresh test data through the shipped file gives the card's numbers (floats to 1e-6: thread counts vary)."""
    for name, (card_metrics, measured) in evaluated.items():
        expected, actual = _flatten(card_metrics), _flatten(measured)
        assert actual.keys() == expected.keys(), name
        for key, value in expected.items():
            if isinstance(value, float):
                assert actual[key] == pytest.approx(value, rel=1e-6, abs=1e-9), f"{name}{key}"
            else:
                assert actual[key] == value, f"{name}{key}"


def test_pose_cnn_is_far_above_the_mean_pose(evaluated: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> None:
    _, metrics = evaluated["pose_cnn"]
    baseline = metrics["baselines"]["mean_pose"]
    for threshold in ("0.05", "0.1", "0.2"):
        assert _pck(metrics, threshold) > 10 * _pck(baseline, threshold)


def test_pose_cnn_reaches_its_pck_targets(evaluated: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> None:
    _, metrics = evaluated["pose_cnn"]
    assert _pck(metrics, "0.2") >= 0.95
    assert _pck(metrics, "0.1") >= 0.85
    assert _pck(metrics, "0.05") >= 0.60


def test_motion_transformer_halves_constant_velocity_error(
    evaluated: dict[str, tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    _, metrics = evaluated["motion_transformer"]
    assert metrics["model"]["mse"] <= 0.5 * metrics["baselines"]["constant_velocity"]["mse"]


def test_digits_convlstm_beats_copy_last_frame(evaluated: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> None:
    _, metrics = evaluated["digits_convlstm"]
    assert metrics["model"]["mse"] <= 0.6 * metrics["baselines"]["copy_last_frame"]["mse"]


def test_sequence_model_places_occluded_joints_better_than_one_frame() -> None:
    comparison = occluded_joint_comparison(REPOSITORY / "sequence_pose_convlstm" / "1", REPOSITORY / "pose_cnn" / "1")
    sequence, single = comparison["sequence"]["pck"]["0.05"], comparison["single_frame"]["pck"]["0.05"]
    assert comparison["sequence"]["points_evaluated"] > 20, "enough occluded joints to compare"
    assert sequence > single
