"""Forecasters on real-looking series: chronological blocks with gaps, window normalization, detected seasons,
conformal intervals in the card, and the statsmodels series the demo forecaster trains on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from modelcard import ModelCard
from models import create_model
from tests.training.conftest import tiny_config
from training.data.real_series import load_statsmodels_series
from training.data.splits import block_split
from training.evaluate import evaluate_version
from training.export import export_to_repository
from training.loop import fit
from training.tasks.sequences import ForecastTask

TINY_SERIES = [
    "model=transformer_forecaster",
    "name=tiny_series",
    "model_args={d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, d_ff=32, max_length=32}",
    "data.kind=arrays",
    "data.input_length=24",
    "data.horizon=6",
    "optim.batch_size=32",
    "optim.epochs=3",
    "optim.learning_rate=3e-3",
]


def seasonal_series(steps: int = 400, seed: int = 0) -> np.ndarray:
    """A monthly-looking series: trend, yearly cycle, noise; (T,)."""
    t = np.arange(steps, dtype=np.float64)
    return 300 + 0.1 * t + 3 * np.sin(2 * np.pi * t / 12) + np.random.default_rng(seed).normal(0, 0.3, steps)


def test_blocks_are_chronological_with_a_gap_between_them() -> None:
    split = block_split(100, (0.8, 0.1, 0.1), gap=5)
    assert (split.train[-1], split.val[0], split.val[-1], split.test[0], split.test[-1]) == (71, 77, 85, 91, 99)
    with pytest.raises(ValueError, match="too few"):
        block_split(10, (0.8, 0.1, 0.1), gap=4)


def _forecast(model: torch.nn.Module, history: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return model(torch.from_numpy(history.astype(np.float32))).numpy()


def test_window_normalization_makes_the_forecast_follow_shifts_and_scales() -> None:
    """f(a x + b) = a f(x) + b for a window-normalized model; the dataset-normalized one has no such property."""
    torch.manual_seed(0)
    history = seasonal_series(24)[None, :, None]  # (1, 24, 1)
    for normalize, expected in (("window", True), ("dataset", False)):
        model = create_model("transformer_forecaster", num_features=1, horizon=6, d_model=16, num_heads=2,
                             normalize=normalize, feature_mean=[300.0], feature_std=[5.0]).eval()  # fmt: skip
        base, moved = _forecast(model, history), _forecast(model, 10 * history - 2500)
        assert np.allclose(moved, 10 * base - 2500, rtol=1e-4, atol=1e-2) is expected, normalize


def test_a_model_trained_on_a_series_generalizes_to_it_shifted_and_scaled(tmp_path: Path) -> None:
    """Trained through the CLI's path on a CSV, exported: its test error on the series x 10 + 1000 is exactly 10 times
    the error on the series itself; with train-split statistics instead, the forecast changes character."""
    series = seasonal_series()
    np.savetxt(tmp_path / "series.csv", series[:, None], delimiter=",", header="value", comments="")
    errors = {}
    for normalize in ("window", "dataset"):
        config = tiny_config(TINY_SERIES, tmp_path, f'data.path="{tmp_path / "series.csv"}"',
                             f"data.normalize={normalize}", f"name=tiny_{normalize}")  # fmt: skip
        version = export_to_repository(fit(config, ForecastTask()).checkpoint_path, tmp_path / "repo")
        session = ort.InferenceSession(str(version / "model.onnx"), providers=["CPUExecutionProvider"])
        test = ForecastTask().test_split(config)
        for scale, shift in ((1.0, 0.0), (10.0, 1000.0)):
            (forecast,) = session.run(None, {"history": (test["inputs"] * scale + shift).astype(np.float32)})
            errors[normalize, scale] = float(np.sqrt(((forecast - (test["targets"] * scale + shift)) ** 2).mean()))
    assert errors["window", 10.0] == pytest.approx(10 * errors["window", 1.0], rel=1e-3)
    assert abs(errors["dataset", 10.0] / (10 * errors["dataset", 1.0]) - 1) > 0.01


def test_a_user_series_gets_its_season_baselines_and_calibrated_intervals(tmp_path: Path) -> None:
    np.savetxt(tmp_path / "series.csv", seasonal_series(600)[:, None], delimiter=",")
    config = tiny_config(TINY_SERIES, tmp_path, f'data.path="{tmp_path / "series.csv"}"')
    version = export_to_repository(fit(config, ForecastTask()).checkpoint_path, tmp_path / "repo")
    card = ModelCard.read(version / "model.json")
    extra = card.training["extra"]
    assert (extra["period"], extra["season_length_source"]) == (12, "detected")
    assert {"seasonal_naive", "seasonal_naive_drift", "drift"} <= set(card.metrics["baselines"])
    best = card.metrics["best_baseline"]
    assert best["rmse"] == min(result["rmse"] for result in card.metrics["baselines"].values())
    assert card.intervals is not None
    assert sorted(card.intervals.half_widths) == ["0.8", "0.95"]
    assert np.shape(card.intervals.half_widths["0.8"]) == (6, 1)
    assert np.all(np.array(card.intervals.half_widths["0.95"]) >= np.array(card.intervals.half_widths["0.8"]))
    assert 0 <= card.metrics["intervals"]["0.8"]["coverage"] <= card.metrics["intervals"]["0.95"]["coverage"] <= 1
    _, measured, headline = evaluate_version(version)  # the coverage reproduces through the card
    assert measured["intervals"] == card.metrics["intervals"]
    assert "0.8 coverage" in headline


def test_the_co2_series_ships_with_statsmodels() -> None:
    co2 = load_statsmodels_series("co2")
    assert co2.shape == (526, 1)
    assert np.isfinite(co2).all()
    assert 310 < co2[0, 0] < 320 < 360 < co2[-1, 0] < 380  # ppm, 1958 and 2001
    with pytest.raises(ValueError, match="known"):
        load_statsmodels_series("airline")
