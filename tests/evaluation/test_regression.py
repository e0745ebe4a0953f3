from __future__ import annotations

import json
import math

import numpy as np
import pytest

from evaluation.regression import regression_metrics

# errors (prediction - target) for N=2, H=2, F=2, chosen so every figure is a short hand sum.
ERRORS = np.array([[[1.0, -1.0], [2.0, 0.0]], [[3.0, 1.0], [0.0, -2.0]]])


def test_overall_per_step_and_per_feature_match_hand_numbers() -> None:
    target = np.arange(8.0).reshape(2, 2, 2)
    result = regression_metrics(target + ERRORS, target)
    assert result.mse == 20 / 8
    assert result.rmse == pytest.approx(math.sqrt(2.5))
    assert result.mae == 10 / 8
    assert result.per_step.mse == (12 / 4, 8 / 4)
    assert result.per_step.mae == (6 / 4, 4 / 4)
    assert result.per_step.rmse == pytest.approx((math.sqrt(3.0), math.sqrt(2.0)))
    assert result.per_feature.mse == (14 / 4, 6 / 4)
    assert result.per_feature.mae == (6 / 4, 4 / 4)
    assert (result.num_samples, result.horizon, result.num_features) == (2, 2, 2)


def test_trailing_dims_are_flattened_in_c_order() -> None:
    target = np.zeros((3, 4, 2, 3))
    pred = target.copy()
    pred[..., 1, 2] = 2.0  # feature 1 * 3 + 2 = 5
    result = regression_metrics(pred, target)
    assert result.num_features == 6
    assert result.per_feature.mse == (0.0, 0.0, 0.0, 0.0, 0.0, 4.0)
    assert result.per_step.mae == (2 / 6,) * 4


def test_two_dimensional_series_has_one_feature() -> None:
    result = regression_metrics([[1.0, 3.0]], [[0.0, 0.0]])
    assert result.num_features == 1
    assert result.per_step.mse == (1.0, 9.0)
    assert result.per_feature.mse == (5.0,)


def test_to_dict_is_plain_json() -> None:
    report = regression_metrics(ERRORS, np.zeros_like(ERRORS)).to_dict()
    assert json.loads(json.dumps(report, allow_nan=False)) == report
    assert report["per_step"]["mse"] == [3.0, 2.0]
    assert report["mse"] == 2.5


@pytest.mark.parametrize(
    ("pred", "target", "message"),
    [
        (np.zeros((2, 3)), np.zeros((2, 4)), r"targets must have shape .* = \(2, 3\), got \(2, 4\)"),
        (np.zeros(3), np.zeros(3), r"predictions must have shape \(N, H, \.\.\.\), got shape \(3,\)"),
        (np.zeros((0, 3)), np.zeros((0, 3)), "predictions must not be empty"),
        (np.array([[0.0, np.nan]]), np.zeros((1, 2)), r"predictions contains NaN or inf at index \(0, 1\)"),
        (np.zeros((1, 2)), np.array([[np.inf, 0.0]]), r"targets contains NaN or inf at index \(0, 0\)"),
    ],
)
def test_malformed_inputs_raise_value_error(pred: np.ndarray, target: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        regression_metrics(pred, target)
