"""Input checks shared by the metrics, and the way back to plain JSON numbers.

Every check raises ValueError naming the argument and what was expected, so the service can answer 4xx
with the same message the CLI prints.
"""

from __future__ import annotations

import math
from typing import TypeAlias

import numpy as np
import numpy.typing as npt

FloatArray: TypeAlias = npt.NDArray[np.float64]
IntArray: TypeAlias = npt.NDArray[np.int64]
BoolArray: TypeAlias = npt.NDArray[np.bool_]


def as_float_array(
    name: str, value: npt.ArrayLike, layout: str, *, ndim: int | None = None, min_ndim: int = 0
) -> FloatArray:
    """`value` as float64 with the expected rank; `layout` ("(N, K, 2)") only goes into messages."""
    try:
        raw = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise ValueError(f"{name} must be a numeric array {layout}: {exc}") from exc
    if raw.dtype.kind not in "biuf":  # no strings or None smuggled in through JSON
        raise ValueError(f"{name} must be a numeric array {layout}, got dtype {raw.dtype}")
    array = raw.astype(np.float64, copy=False)
    if (ndim is not None and array.ndim != ndim) or array.ndim < min_ndim:
        raise ValueError(f"{name} must have shape {layout}, got shape {array.shape}")
    return array


def require_finite(name: str, array: FloatArray, where: BoolArray | None = None) -> None:
    """Raise on the first NaN or inf (only among `where`, when given), naming its index."""
    bad = ~np.isfinite(array)
    if where is not None:
        bad &= where
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} contains NaN or inf at index {index}")


def require_shape(name: str, array: npt.NDArray[np.generic], shape: tuple[int, ...], layout: str) -> None:
    """Raise unless `array` has exactly `shape`."""
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {layout} = {shape}, got {array.shape}")


def as_visibility(name: str, value: npt.ArrayLike, shape: tuple[int, ...]) -> IntArray:
    """COCO visibility flags as int64, each one of 0 (not labelled), 1 (occluded) or 2 (visible)."""
    array = as_float_array(name, value, "(N, K)", ndim=len(shape))
    require_shape(name, array, shape, "(N, K)")
    require_finite(name, array)
    if not np.isin(array, (0, 1, 2)).all():
        index = tuple(int(i) for i in np.argwhere(~np.isin(array, (0, 1, 2)))[0])
        raise ValueError(f"{name} must hold COCO flags 0, 1 or 2, got {array[index]!r} at index {index}")
    return array.astype(np.int64)


def as_nonnegative_sizes(name: str, value: npt.ArrayLike, count: int) -> FloatArray:
    """Per-sample sizes (N,): NaN marks an unknown size (the sample is excluded), inf or < 0 an error."""
    array = as_float_array(name, value, "(N,)", ndim=1)
    require_shape(name, array, (count,), "(N,)")
    if np.isinf(array).any() or (array < 0).any():
        index = int(np.argwhere(np.isinf(array) | (array < 0))[0][0])
        raise ValueError(f"{name} must be >= 0 and finite (NaN marks unknown), got {array[index]} at index {index}")
    return array


def json_float(value: float) -> float | None:
    """A plain float for JSON, None for NaN (JSON has no NaN)."""
    number = float(value)
    return None if math.isnan(number) else number
