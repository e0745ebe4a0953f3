from __future__ import annotations

import numpy as np
import pytest

from evaluation.pck import compute_pck
from evaluation.regression import regression_metrics
from evaluation.report import markdown_table


def test_table_of_model_and_baseline_rows() -> None:
    truth = np.zeros((2, 1, 2))
    pred = np.array([[[1.0, 0.0]], [[2.0, 0.0]]])
    model = compute_pck(pred, truth, np.ones((2, 1)), normalizer=[10.0, 10.0])
    baseline = compute_pck(truth + 5.0, truth, np.ones((2, 1)), normalizer=[10.0, 10.0])
    assert markdown_table({"convlstm": model, "mean_pose": baseline}, digits=2) == (
        "| model | PCK@0.05 | PCK@0.1 | PCK@0.2 |\n"
        "|---|---:|---:|---:|\n"
        "| convlstm | 0.00 | 0.50 | 1.00 |\n"
        "| mean_pose | 0.00 | 0.00 | 0.00 |"
    )


def test_missing_values_and_columns() -> None:
    empty = compute_pck(np.zeros((1, 1, 2)), np.zeros((1, 1, 2)), np.zeros((1, 1)), normalizer=[1.0])
    errors = regression_metrics([[1.0]], [[0.0]])
    table = markdown_table({"pose": empty, "forecast": errors}, digits=1, label="run").splitlines()
    assert table[0] == "| run | PCK@0.05 | PCK@0.1 | PCK@0.2 | MSE | RMSE | MAE |"
    assert table[2] == "| pose | n/a | n/a | n/a |  |  |  |"
    assert table[3] == "| forecast |  |  |  | 1.0 | 1.0 | 1.0 |"


def test_empty_table_raises() -> None:
    with pytest.raises(ValueError, match="at least one row"):
        markdown_table({})
