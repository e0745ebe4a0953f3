"""The committed demo models: each is re-evaluated through onnxruntime on freshly generated test data.

This checks the shipped files (sha256 against their cards), that the card's metrics are reproducible, and each
model's target from the training issue.
"""

from __future__ import annotations

import copy
import math
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
    assert sorted(evaluated) == [
        "co2_transformer",
        "digits_convlstm",
        "motion_transformer",
        "pose_cnn",
        "sequence_pose_convlstm",
    ]


KEYPOINTS_ALLOWED_TO_FLIP = 3  # a PCK may move by a few keypoints crossing a threshold, out of all it counts
REGRESSION_RELATIVE_TOLERANCE = 1e-3  # an MSE may move by a small relative amount (kernels differ by release)


FRACTIONS = ("pck", "mean_over_joints", "per_joint")


def _pck_fractions(block: dict[str, Any]) -> dict[str, tuple[dict[str, float], int]]:
    """Each group of PCK fractions in a block, with the number of keypoints it counts."""
    groups = {
        "pck": (block["pck"], block["points_evaluated"]),
        "mean_over_joints": (block["mean_over_joints"], min(block["points_per_joint"].values())),
    }
    for joint, fractions in block["per_joint"].items():
        groups[f"per_joint/{joint}"] = (fractions, block["points_per_joint"][joint])
    return groups


def _pck_drift(path: str, expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """A PCK block: each fraction may move by KEYPOINTS_ALLOWED_TO_FLIP of the keypoints it counts."""
    drift = []
    measured = _pck_fractions(actual)
    for group, (fractions, points) in _pck_fractions(expected).items():
        for threshold, fraction in fractions.items():
            now = measured.get(group, ({}, 0))[0].get(threshold, float("nan"))
            flipped = abs(now - fraction) * points
            if not flipped <= KEYPOINTS_ALLOWED_TO_FLIP:
                drift.append(
                    f"{path}/{group}/{threshold}: {fraction:.6f} -> {now}, "
                    f"{flipped:.1f} keypoints of {points} (allowed {KEYPOINTS_ALLOWED_TO_FLIP})"
                )
    counts = [key for key in expected if key not in FRACTIONS]
    return drift + _drift(path, {key: expected[key] for key in counts}, {key: actual.get(key) for key in counts})


def _drift(path: str, expected: Any, actual: Any) -> list[str]:
    """Where re-measured metrics leave the card's by more than each metric allows; counts and names exactly."""
    if isinstance(expected, dict):
        # Every metric on the card is still measured; newer evaluation code may measure more (a new baseline).
        if not isinstance(actual, dict) or not expected.keys() <= actual.keys():
            return [f"{path}: keys {sorted(expected)} -> {sorted(actual) if isinstance(actual, dict) else actual}"]
        if "points_evaluated" in expected and "per_joint" in expected:
            return _pck_drift(path, expected, actual)
        return [line for key in expected for line in _drift(f"{path}/{key}", expected[key], actual[key])]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: {len(expected)} items -> {actual}"]
        return [line for i, item in enumerate(expected) for line in _drift(f"{path}/{i}", item, actual[i])]
    if isinstance(expected, float):
        moved = abs(float(actual) - expected) / max(abs(expected), 1e-12) if isinstance(actual, float) else math.inf
        if not moved <= REGRESSION_RELATIVE_TOLERANCE:
            allowed = f"{REGRESSION_RELATIVE_TOLERANCE:.1%}"
            return [f"{path}: {expected:.6g} -> {actual}, moved by {moved:.2%} (allowed {allowed})"]
        return []
    return [] if actual == expected else [f"{path}: {expected!r} -> {actual!r}"]


def test_card_metrics_reproduce(evaluated: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """Fresh test data through the shipped file gives the card's numbers, within what the metric allows: the locked
    onnxruntime may differ from the one the card was measured with, and so may the thread count."""
    drift = [line for name, (card, measured) in evaluated.items() for line in _drift(name, card, measured)]
    assert not drift, "\n".join(drift)


def test_drift_check_fails_past_the_tolerance(evaluated: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> None:
    """The control for the check above: four keypoints crossing a threshold, or an MSE 1% off, are reported."""
    card, _ = evaluated["pose_cnn"]
    points = card["pck"]["points_evaluated"]
    moved = copy.deepcopy(card)
    moved["pck"]["pck"]["0.05"] += 4 / points
    assert _drift("pose_cnn", moved, card) == [
        f"pose_cnn/pck/pck/0.05: {moved['pck']['pck']['0.05']:.6f} -> {card['pck']['pck']['0.05']}, "
        f"4.0 keypoints of {points} (allowed 3)"
    ]
    moved["pck"]["pck"]["0.05"] -= 2 / points
    assert _drift("pose_cnn", moved, card) == []
    card, _ = evaluated["digits_convlstm"]
    moved = copy.deepcopy(card)
    moved["model"]["mse"] *= 1.01
    assert [line.split(":")[0] for line in _drift("digits", moved, card)] == ["digits/model/mse"]


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
    assert metrics["pck_heldout_style"]["pck"]["0.2"] >= 0.8  # a drawing style training never sees


def test_motion_transformer_halves_constant_velocity_error(
    evaluated: dict[str, tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    _, metrics = evaluated["motion_transformer"]
    assert metrics["model"]["mse"] <= 0.5 * metrics["baselines"]["constant_velocity"]["mse"]


def test_co2_transformer_beats_every_baseline_on_the_real_series(
    evaluated: dict[str, tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    """The forecasting issue's targets on monthly Mauna Loa CO2, test block, the same windows for every method."""
    _, metrics = evaluated["co2_transformer"]
    rmse = metrics["model"]["rmse"]
    assert rmse <= 0.5 * metrics["baselines"]["seasonal_naive"]["rmse"]
    assert rmse < min(result["rmse"] for result in metrics["baselines"].values())
    assert 0.75 <= metrics["intervals"]["0.8"]["coverage"] <= 0.85


def test_digits_convlstm_beats_copy_last_frame(evaluated: dict[str, tuple[dict[str, Any], dict[str, Any]]]) -> None:
    _, metrics = evaluated["digits_convlstm"]
    assert metrics["model"]["mse"] <= 0.6 * metrics["baselines"]["copy_last_frame"]["mse"]


def test_sequence_model_places_occluded_joints_better_than_one_frame() -> None:
    comparison = occluded_joint_comparison(REPOSITORY / "sequence_pose_convlstm" / "1", REPOSITORY / "pose_cnn" / "1")
    sequence, single = comparison["sequence"]["pck"]["0.05"], comparison["single_frame"]["pck"]["0.05"]
    assert comparison["sequence"]["points_evaluated"] > 20, "enough occluded joints to compare"
    assert sequence > single
