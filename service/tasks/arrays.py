"""Client data in: nested JSON lists, JSON documents and .npy/.npz files, checked with messages that say what was
expected, before any of it is allocated at the size it claims."""

from __future__ import annotations

import io
import json
import lzma
import math
import zipfile
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

import evaluation.arrays
from service.errors import InvalidInput, PayloadTooLarge

FloatArray = npt.NDArray[np.float64]
T = TypeVar("T")
ZIP_MAGIC = b"PK\x03\x04"
NPY_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
# What a damaged or lying archive raises while it is read: bad CRCs, truncated streams, sizes that do not add up.
ARCHIVE_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError, lzma.LZMAError)


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
    except OverflowError:  # an integer literal past float64's range, e.g. 1 followed by 400 zeros
        raise InvalidInput(f"{label} holds a number too large for float64") from None
    except (ValueError, TypeError):
        raise InvalidInput(f"{label} must be a rectangular nested list of numbers {layout}") from None
    return array


def load_json(data: bytes, label: str) -> Any:
    """A client's JSON document; nesting too deep for the parser is a 400 like any other malformed JSON."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InvalidInput(f"{label} is not valid JSON: {reason}") from None


def load_npy(data: bytes, label: str) -> FloatArray:
    """A .npy file's bytes -> float64 array. The header must describe exactly the bytes that follow it, so a
    few bytes claiming a terabyte shape are refused before anything is allocated; pickled objects are refused."""
    if data.startswith(ZIP_MAGIC):
        raise InvalidInput(f"{label} is an .npz or zip archive; send one array as a .npy file")
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        read_header = NPY_HEADER_READERS.get(version)
        if read_header is None:
            raise ValueError(f"unsupported .npy format version {version}")
        shape, _, dtype = read_header(stream)
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidInput(f"{label} is not a readable .npy array: {exc}") from None
    if dtype.hasobject or dtype.kind not in "biuf":
        raise InvalidInput(f"{label} must hold numbers, got dtype {dtype}")
    declared, present = math.prod(shape) * dtype.itemsize, len(data) - stream.tell()
    if declared != present:
        raise InvalidInput(
            f"{label}: the .npy header declares shape {list(shape)} of {dtype} ({declared} bytes) but {present} "
            "bytes follow it"
        )
    return _numeric(np.load(io.BytesIO(data), allow_pickle=False), label)


def unzip(data: bytes, max_unpacked_bytes: int, label: str) -> dict[str, bytes]:
    """The files of a zip, refused (413) from the members' declared sizes before anything is decompressed; zipfile
    stops each member at its declared size, so the sum bounds what is read. Damage raises ARCHIVE_ERRORS."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if sum(info.file_size for info in members) > max_unpacked_bytes:
            raise PayloadTooLarge(
                f"{label} unpacks to more than {max_unpacked_bytes} bytes (POSECAST_MAX_EVAL_UNPACKED_BYTES)"
            )
        return {info.filename: archive.read(info) for info in members}


def load_npz(data: bytes, label: str, max_unpacked_bytes: int) -> dict[str, FloatArray]:
    """A .npz file's bytes -> its arrays as float64, each member checked like a .npy upload."""
    try:
        files = unzip(data, max_unpacked_bytes, label)
    except ARCHIVE_ERRORS as exc:
        raise InvalidInput(f"{label} is not a readable .npz file: {exc}") from None
    return {
        name.removesuffix(".npy"): load_npy(content, f"{label}[{name.removesuffix('.npy')!r}]")
        for name, content in files.items()
    }


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
