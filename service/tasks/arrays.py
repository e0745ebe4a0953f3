"""Client arrays in: nested JSON lists and .npy/.npz files, checked with messages that say what was expected."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

import evaluation.arrays
from service.errors import InvalidInput

FloatArray = npt.NDArray[np.float64]
T = TypeVar("T")


def checked(compute: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run an `evaluation` function, turning its ValueError (which names what was expected) into a 400."""
    try:
        return compute(*args, **kwargs)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None


def parse_array(value: Any, label: str, layout: str) -> FloatArray:
    """A rectangular nested list of numbers (null -> NaN) -> float64 array."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (ValueError, TypeError):
        raise InvalidInput(f"{label} must be a rectangular nested list of numbers {layout}") from None
    return array


def load_npy(data: bytes, label: str) -> FloatArray:
    """A .npy file's bytes -> float64 array; pickled objects are refused."""
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidInput(f"{label} is not a readable .npy array: {exc}") from None
    return _numeric(array, label)


def load_npz(data: bytes, label: str) -> dict[str, FloatArray]:
    """A .npz file's bytes -> its arrays as float64; pickled objects are refused."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            return {key: _numeric(archive[key], f"{label}[{key!r}]") for key in archive.files}
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise InvalidInput(f"{label} is not a readable .npz file: {exc}") from None


def _numeric(array: npt.NDArray[Any], label: str) -> FloatArray:
    if array.dtype.kind not in "biuf":
        raise InvalidInput(f"{label} must hold numbers, got dtype {array.dtype}")
    return array.astype(np.float64)


def require_finite(array: npt.NDArray[np.floating], label: str) -> None:
    """400 naming the first NaN or infinity (`evaluation`'s check and message)."""
    checked(evaluation.arrays.require_finite, label, array)


def require_shape(array: npt.NDArray[Any], expected: tuple[int | None, ...], label: str, layout: str) -> None:
    """400 unless `array` has len(expected) axes and matches every axis that is not None."""
    if array.ndim != len(expected) or any(
        e is not None and e != got for e, got in zip(expected, array.shape, strict=True)
    ):
        raise InvalidInput(f"{label} must have shape {layout}, got {list(array.shape)}")
