from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from training.data.arrays import load_windows, sliding_windows


def test_window_count_and_contents() -> None:
    windows = sliding_windows([np.arange(20.0)], input_length=5, horizon=3, stride=2)
    assert windows.inputs.shape == (7, 5, 1)
    assert windows.targets.shape == (7, 3, 1)
    assert windows.inputs.dtype == windows.targets.dtype == np.float32
    for k in range(7):
        np.testing.assert_array_equal(windows.inputs[k, :, 0], np.arange(2 * k, 2 * k + 5))
        np.testing.assert_array_equal(windows.targets[k, :, 0], np.arange(2 * k + 5, 2 * k + 8))


def test_windows_never_cross_series_and_skip_short_ones() -> None:
    first, short, last = np.arange(10.0), np.arange(100.0, 104.0), np.arange(200.0, 209.0)
    windows = sliding_windows([first, short, last], input_length=4, horizon=2)
    assert len(windows.inputs) == 5 + 0 + 4
    spans = np.concatenate([windows.inputs, windows.targets], axis=1)[..., 0]
    np.testing.assert_array_equal(np.diff(spans, axis=1), 1)  # consecutive steps of one series only


def test_too_short_everywhere_is_an_error() -> None:
    with pytest.raises(ValueError, match="long enough"):
        sliding_windows([np.arange(5.0)], input_length=4, horizon=2)


@pytest.mark.parametrize("header", ["a,b\n", ""])
def test_csv_with_or_without_header(tmp_path: Path, header: str) -> None:
    path = tmp_path / "series.csv"
    path.write_text(header + "".join(f"{t},{10 * t}\n" for t in range(12)))
    windows = load_windows(path, input_length=3, horizon=1, stride=3)
    assert windows.inputs.shape == (3, 3, 2)  # (12 - 4) // 3 + 1 windows of 2 features
    np.testing.assert_array_equal(windows.inputs[1], [[3, 30], [4, 40], [5, 50]])
    np.testing.assert_array_equal(windows.targets[2], [[9, 90]])
    univariate = load_windows(path, input_length=3, horizon=1, stride=3, columns_as_series=True)
    assert univariate.inputs.shape == (6, 3, 1)
    np.testing.assert_array_equal(univariate.targets[3:, 0, 0], [30, 60, 90])


def test_csv_with_text_below_the_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("a\n1\nx\n3\n")
    with pytest.raises(ValueError, match="numbers only"):
        load_windows(path, 1, 1)


def test_npz_series_of_several_sequences(tmp_path: Path) -> None:
    path = tmp_path / "series.npz"
    np.savez(path, series=np.arange(2 * 6 * 3, dtype=np.float64).reshape(2, 6, 3))
    windows = load_windows(path, input_length=2, horizon=2)
    assert windows.inputs.shape == (6, 2, 3)  # 3 windows from each of the 2 series
    np.testing.assert_array_equal(windows.inputs[3, 0], [18, 19, 20])  # first window of the second series


def test_npz_ready_windows_are_checked_against_the_request(tmp_path: Path) -> None:
    path = tmp_path / "windows.npz"
    np.savez(path, inputs=np.zeros((4, 5)), targets=np.ones((4, 2)))
    windows = load_windows(path, input_length=5, horizon=2)
    assert windows.inputs.shape == (4, 5, 1)
    assert windows.targets.shape == (4, 2, 1)
    with pytest.raises(ValueError, match="input length 5 and horizon 2"):
        load_windows(path, input_length=6, horizon=2)
    np.savez(path, other=np.zeros(3))
    with pytest.raises(ValueError, match="'series', or 'inputs' and 'targets'"):
        load_windows(path, 1, 1)
