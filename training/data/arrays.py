"""User series from .npz or .csv files, cut into sliding windows (inputs, targets) for the forecasting models.

File layouts:
- `.npz` with `series`: (T,) or (T, F) is one series, (S, T, F) is S series of equal length.
- `.npz` with `inputs` (N, L, F) and `targets` (N, H, F): windows cut already (2-D arrays mean F = 1); L and H
  must match the requested input length and horizon.
- `.csv`: comma-separated numbers, one series with one feature per column; a first row that does not parse as
  numbers is a header.
With `columns_as_series`, each feature column becomes its own univariate series instead.
Windows never cross from one series into the next.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view


@dataclass(frozen=True)
class Windows:
    inputs: npt.NDArray[np.float32]  # (N, L, F) the input_length steps fed to the model
    targets: npt.NDArray[np.float32]  # (N, H, F) the horizon steps that follow them


def _as_features(array: npt.NDArray[np.generic], name: str) -> npt.NDArray[np.float64]:
    """(T,) -> (T, 1); (T, F) unchanged; anything else is an error naming the array."""
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {array.dtype}")
    if array.ndim not in (1, 2):
        raise ValueError(f"{name} must have shape (T,) or (T, F), got {array.shape}")
    values = array.astype(np.float64).reshape(len(array), -1)
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or inf; fill or drop those steps first")
    return values


def sliding_windows(series: Sequence[npt.ArrayLike], input_length: int, horizon: int, stride: int = 1) -> Windows:
    """Windows of `input_length` + `horizon` consecutive steps, every `stride` steps, from each series.

    `series` is a list of (T, F) or (T,) arrays (or one (S, T, F) array). A series of T steps gives
    (T - input_length - horizon) // stride + 1 windows, none when it is too short.
    """
    if input_length < 1 or horizon < 1 or stride < 1:
        raise ValueError(f"input_length, horizon and stride must be >= 1, got {input_length}, {horizon}, {stride}")
    arrays = [_as_features(np.asarray(part), f"series[{i}]") for i, part in enumerate(series)]
    if len({a.shape[1] for a in arrays}) > 1:
        raise ValueError(f"all series need the same number of features, got {sorted({a.shape[1] for a in arrays})}")
    span = input_length + horizon
    cuts = [
        sliding_window_view(a, span, axis=0)[::stride].transpose(0, 2, 1)  # (n, span, F)
        for a in arrays
        if len(a) >= span
    ]
    if not cuts:
        longest = max((len(a) for a in arrays), default=0)
        raise ValueError(f"no series is long enough: windows need {span} steps, the longest has {longest}")
    windows = np.concatenate(cuts).astype(np.float32)
    return Windows(inputs=windows[:, :input_length], targets=windows[:, input_length:])


def read_csv_series(path: str | Path) -> npt.NDArray[np.float64]:
    """A CSV of numeric columns as one (T, F) series; a first row that is not all numbers is a header."""
    with open(path, newline="") as handle:
        first = next(csv.reader(handle), None)
    if first is None:
        raise ValueError(f"{path} is empty")
    try:
        [float(cell) for cell in first]
        header = 0
    except ValueError:
        header = 1
    try:
        table = np.loadtxt(path, delimiter=",", skiprows=header, ndmin=2, dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{path} must hold numbers only below an optional header row: {exc}") from exc
    return _as_features(table, str(path))


def read_series(path: str | Path) -> list[npt.NDArray[np.float64]] | None:
    """The (T, F) series of a user file, or None for an .npz of windows cut already."""
    path = Path(path)
    if path.suffix == ".csv":
        return [read_csv_series(path)]
    if path.suffix != ".npz":
        raise ValueError(f"{path}: expected a .csv or .npz file")
    with np.load(path, allow_pickle=False) as data:
        if "inputs" in data and "targets" in data and "series" not in data:
            return None
        if "series" not in data:
            raise ValueError(f"{path} must hold 'series', or 'inputs' and 'targets'; it holds {sorted(data.files)}")
        series = data["series"]
    return [_as_features(s, "series") for s in (series if series.ndim == 3 else [series])]


def load_windows(
    path: str | Path, input_length: int, horizon: int, stride: int = 1, columns_as_series: bool = False
) -> Windows:
    """Windows from a user file (layouts in the module docstring)."""
    parts = read_series(path)
    if parts is None:
        with np.load(path, allow_pickle=False) as data:
            return _ready_windows(data["inputs"], data["targets"], input_length, horizon)
    if columns_as_series:
        parts = [part[:, [k]] for part in parts for k in range(part.shape[1])]
    return sliding_windows(parts, input_length, horizon, stride)


def _ready_windows(
    inputs: npt.NDArray[np.generic], targets: npt.NDArray[np.generic], input_length: int, horizon: int
) -> Windows:
    x = inputs[..., None] if inputs.ndim == 2 else inputs
    y = targets[..., None] if targets.ndim == 2 else targets
    if x.ndim != 3 or y.ndim != 3 or len(x) != len(y) or x.shape[2] != y.shape[2]:
        raise ValueError(f"inputs (N, L, F) and targets (N, H, F) disagree: {inputs.shape} vs {targets.shape}")
    if (x.shape[1], y.shape[1]) != (input_length, horizon):
        raise ValueError(
            f"the file's windows have input length {x.shape[1]} and horizon {y.shape[1]}, "
            f"but {input_length} and {horizon} were asked for"
        )
    return Windows(inputs=x.astype(np.float32), targets=y.astype(np.float32))
