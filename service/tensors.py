"""V2 datatypes <-> numpy, JSON tensor data, and the byte layout of Triton's binary tensor data extension.

The binary path is numpy views over the request body (`np.frombuffer`) and one join of output buffers: no
per-element Python work except for BYTES, whose framing is per element by definition.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from service.errors import InvalidInput

_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}
_DATATYPES = {(dtype.kind, dtype.itemsize): name for name, dtype in _DTYPES.items() if name != "BYTES"}
# Which kinds of numpy array (as parsed from JSON) each datatype accepts without a lossy cast.
_JSON_KINDS = {"b": "b", "u": "iu", "i": "iu", "f": "fiu"}
_LENGTH = struct.Struct("<I")


def numpy_dtype(datatype: str) -> np.dtype[Any]:
    try:
        return _DTYPES[datatype]
    except KeyError:
        raise InvalidInput(f"unsupported datatype '{datatype}'; supported: {', '.join(_DTYPES)}") from None


def v2_datatype(dtype: np.dtype[Any]) -> str:
    if dtype.kind in "OUS":
        return "BYTES"
    try:
        return _DATATYPES[(dtype.kind, dtype.itemsize)]
    except KeyError:
        raise InvalidInput(f"numpy dtype {dtype} has no V2 datatype") from None


def element_count(shape: Sequence[int]) -> int:
    return math.prod(shape)


def from_json(name: str, data: list[Any], datatype: str, shape: Sequence[int]) -> np.ndarray:
    """`data` flat or nested, row-major; checked against the element count and the datatype's range."""
    dtype = numpy_dtype(datatype)
    count = element_count(shape)
    if datatype == "BYTES":
        return _bytes_array(name, _flatten(data), count).reshape(shape)
    try:
        parsed = np.asarray(data)
    except ValueError as exc:
        raise InvalidInput(f"input '{name}': data is ragged or mixed ({exc})") from None
    if parsed.size != count:
        raise InvalidInput(f"input '{name}': {parsed.size} data elements but shape {list(shape)} needs {count}")
    if count and parsed.dtype.kind not in _JSON_KINDS[dtype.kind]:
        raise InvalidInput(f"input '{name}': data of kind {parsed.dtype} does not fit datatype {datatype}")
    if count and dtype.kind in "iu":
        info = np.iinfo(dtype)
        if parsed.min() < info.min or parsed.max() > info.max:
            raise InvalidInput(f"input '{name}': values out of range for {datatype}")
    return parsed.astype(dtype, copy=False).reshape(shape)


def to_json(array: np.ndarray) -> list[Any]:
    """Flat row-major list, the one place the JSON path converts to Python objects."""
    if array.dtype.kind in "OS":
        return [item.decode("utf-8", "replace") if isinstance(item, bytes) else str(item) for item in array.flat]
    return array.ravel().tolist()


def from_binary(name: str, buffer: memoryview, datatype: str, shape: Sequence[int]) -> np.ndarray:
    """A read-only view on the request body: little-endian, row-major, BYTES as 4-byte length + bytes."""
    dtype = numpy_dtype(datatype)
    count = element_count(shape)
    if datatype == "BYTES":
        return _bytes_array(name, _unframe(name, buffer), count).reshape(shape)
    expected = count * dtype.itemsize
    if len(buffer) != expected:
        raise InvalidInput(
            f"input '{name}': binary_data_size is {len(buffer)} bytes but shape {list(shape)} "
            f"of {datatype} needs {expected}"
        )
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)


def to_binary(array: np.ndarray) -> memoryview | bytes:
    """The tensor's bytes in the extension's layout; a view, no copy, when already contiguous LE."""
    if array.dtype.kind in "OUS":
        return b"".join(_LENGTH.pack(len(item)) + item for item in map(_as_bytes, array.flat))
    contiguous = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return contiguous.reshape(-1).view(np.uint8).data


def zeros(datatype: str, shape: Sequence[int]) -> np.ndarray:
    """A placeholder tensor (warm-up); BYTES as empty strings."""
    if datatype == "BYTES":
        return np.full(shape, b"", dtype=object)
    return np.zeros(shape, dtype=numpy_dtype(datatype))


def _as_bytes(item: object) -> bytes:
    return item if isinstance(item, bytes) else str(item).encode("utf-8")


def _flatten(data: list[Any]) -> list[Any]:
    flat: list[Any] = []
    for item in data:
        flat.extend(_flatten(item) if isinstance(item, list) else [item])
    return flat


def _bytes_array(name: str, items: list[Any], count: int) -> np.ndarray:
    if len(items) != count:
        raise InvalidInput(f"input '{name}': {len(items)} BYTES elements but the shape needs {count}")
    if not all(isinstance(item, str | bytes) for item in items):
        raise InvalidInput(f"input '{name}': BYTES data must be strings")
    array = np.empty(count, dtype=object)
    array[:] = [item.encode("utf-8") if isinstance(item, str) else item for item in items]
    return array


def _unframe(name: str, buffer: memoryview) -> list[Any]:
    items: list[Any] = []
    offset = 0
    while offset < len(buffer):
        if offset + _LENGTH.size > len(buffer):
            raise InvalidInput(f"input '{name}': truncated BYTES length prefix")
        (length,) = _LENGTH.unpack_from(buffer, offset)
        offset += _LENGTH.size
        if offset + length > len(buffer):
            raise InvalidInput(f"input '{name}': BYTES element overruns binary_data_size")
        items.append(bytes(buffer[offset : offset + length]))
        offset += length
    return items
