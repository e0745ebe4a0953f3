"""KServe V2 / Open Inference Protocol wire format: request and response JSON, binary extension framing.

Pure functions over bytes, numpy and model cards: no FastAPI, so they are tested without a server.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from modelcard import TensorSpec
from service import tensors
from service.errors import InvalidInput, PayloadTooLarge

Parameters = dict[str, bool | int | float | str]
Dimension = Annotated[int, Field(ge=0, strict=True)]  # not `true` or "3"
BYTE_COUNT = re.compile(r"[0-9]{1,18}")  # ASCII only (str.isdigit takes other scripts), and far below int's limit


class RequestInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    shape: list[Dimension]
    datatype: str
    parameters: Parameters = Field(default_factory=dict)
    data: list[Any] | None = None


class RequestOutput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    parameters: Parameters = Field(default_factory=dict)


class InferenceRequest(BaseModel):
    """`$inference_request`; unknown top-level fields (Triton clients send `model_name`) are ignored."""

    model_config = ConfigDict(extra="ignore")

    id: str | None = None
    parameters: Parameters = Field(default_factory=dict)
    inputs: list[RequestInput] = Field(min_length=1)
    outputs: list[RequestOutput] | None = None


@dataclass(frozen=True)
class OutputChoice:
    name: str
    binary: bool


@dataclass(frozen=True)
class DecodedRequest:
    """An inference request with its tensors decoded; `outputs` None means every output, in graph order."""

    id: str | None
    inputs: dict[str, np.ndarray]
    outputs: list[OutputChoice] | None
    binary_output: bool
    timeout_s: float | None


def parse_header_length(value: str | None) -> int | None:
    """`Inference-Header-Content-Length`: None without the extension, 0 for a raw binary request."""
    if value is None:
        return None
    if not BYTE_COUNT.fullmatch(value.strip()):
        shown = value if len(value) <= 40 else f"{value[:40]}... ({len(value)} characters)"
        raise InvalidInput(f"Inference-Header-Content-Length must be a byte count (ASCII digits), got '{shown}'")
    return int(value)


def decode_request(
    body: bytes, header_length: int | None, model_inputs: list[TensorSpec], max_elements: int
) -> DecodedRequest:
    """The request's tensors; 413 before any tensor is built when their shapes hold more than `max_elements`."""
    if header_length == 0:
        return _decode_raw(body, model_inputs)
    header_end = len(body) if header_length is None else header_length
    if header_end > len(body):
        raise InvalidInput(f"Inference-Header-Content-Length {header_end} exceeds the body ({len(body)} bytes)")
    try:
        request = InferenceRequest.model_validate_json(body[:header_end])
    except ValidationError as exc:
        raise InvalidInput(f"malformed inference request: {_summary(exc)}") from None
    elements = sum(tensors.element_count(item.shape) for item in request.inputs)
    if elements > max_elements:
        raise PayloadTooLarge(
            f"the inputs' shapes hold {elements} elements; the limit is {max_elements} per request "
            "(POSECAST_MAX_REQUEST_ELEMENTS)"
        )
    binary = memoryview(body)[header_end:]
    offset = 0
    inputs: dict[str, np.ndarray] = {}
    for item in request.inputs:
        if item.name in inputs:
            raise InvalidInput(f"input '{item.name}' given twice")
        size = item.parameters.get("binary_data_size")
        if size is None:
            if item.data is None:
                raise InvalidInput(f"input '{item.name}' has neither data nor binary_data_size")
            inputs[item.name] = tensors.from_json(item.name, item.data, item.datatype, item.shape)
            continue
        if item.data is not None or isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidInput(f"input '{item.name}': binary_data_size must be a byte count and excludes data")
        if offset + size > len(binary):
            raise InvalidInput(f"input '{item.name}': binary_data_size {size} overruns the body")
        chunk = binary[offset : offset + size]
        inputs[item.name] = tensors.from_binary(item.name, chunk, item.datatype, item.shape)
        offset += size
    if offset != len(binary):
        raise InvalidInput(f"{len(binary) - offset} bytes after the last binary input")
    binary_output = _flag(request.parameters, "binary_data_output", False)
    outputs = None
    if request.outputs:  # none named (absent or []): every output, as Triton answers
        outputs = [
            OutputChoice(out.name, _flag(out.parameters, "binary_data", binary_output)) for out in request.outputs
        ]
    return DecodedRequest(request.id, inputs, outputs, binary_output, _timeout(request.parameters))


def _flag(parameters: Parameters, name: str, default: bool) -> bool:
    value = parameters.get(name, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"parameter '{name}' must be true or false, got {value!r}")
    return value


JSON_BYTES_PER_ELEMENT = 20  # a float32 written as JSON: up to 17 significant digits, sign, point, exponent, comma


def encode_response(
    model_name: str,
    model_version: str,
    request: DecodedRequest,
    results: dict[str, np.ndarray],
    max_json_bytes: int,
) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when any output travels as binary.

    413 before encoding when the outputs asked for as JSON would come to more than `max_json_bytes` (estimated
    from their element count; binary outputs are not limited)."""
    choices = request.outputs or [OutputChoice(name, request.binary_output) for name in results]
    elements = sum(results[choice.name].size for choice in choices if not choice.binary)
    if elements * JSON_BYTES_PER_ELEMENT > max_json_bytes:
        raise PayloadTooLarge(
            f"the response would hold {elements} numbers as JSON (about {elements * JSON_BYTES_PER_ELEMENT} bytes; "
            f"the limit is {max_json_bytes}, POSECAST_MAX_RESPONSE_BYTES): ask for binary output "
            "(parameters.binary_data_output) or send a smaller batch"
        )
    entries: list[dict[str, Any]] = []
    chunks: list[memoryview | bytes] = []
    for choice in choices:
        array = results[choice.name]
        entry: dict[str, Any] = {
            "name": choice.name,
            "datatype": tensors.v2_datatype(array.dtype),
            "shape": list(array.shape),
        }
        if choice.binary:
            chunk = tensors.to_binary(array)
            entry["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            entry["data"] = tensors.to_json(array)
        entries.append(entry)
    response: dict[str, Any] = {"model_name": model_name, "model_version": model_version}
    if request.id is not None:
        response["id"] = request.id
    response["outputs"] = entries
    header = json.dumps(response, separators=(",", ":")).encode("utf-8")
    if not chunks:
        return header, None
    return b"".join([header, *chunks]), len(header)


def _decode_raw(body: bytes, model_inputs: list[TensorSpec]) -> DecodedRequest:
    """Triton's raw binary request: the body is the only input, batch 1, at most one other dynamic axis."""
    if len(model_inputs) != 1:
        raise InvalidInput("raw binary requests need a model with exactly one input")
    spec = model_inputs[0]
    dims = spec.shape[1:]
    if spec.datatype == "BYTES":
        if any(dim not in (1, -1) for dim in dims):
            raise InvalidInput(f"raw BYTES input '{spec.name}' must hold one element")
        array = np.empty([1] * len(spec.shape), dtype=object)
        array.flat[0] = body
        return DecodedRequest(None, {spec.name: array}, None, True, None)
    itemsize = tensors.numpy_dtype(spec.datatype).itemsize
    known = tensors.element_count([dim for dim in dims if dim != -1])
    dynamic = dims.count(-1)
    count, remainder = divmod(len(body), itemsize)
    fits = known > 0 and not remainder and (count % known == 0 if dynamic == 1 else count == known)
    if dynamic > 1 or not fits:
        raise InvalidInput(
            f"raw binary body of {len(body)} bytes does not fit input '{spec.name}' {spec.datatype} "
            f"{spec.shape} (batch 1, at most one dynamic axis)"
        )
    shape = [1, *(count // known if dim == -1 else dim for dim in dims)]
    array = tensors.from_binary(spec.name, memoryview(body), spec.datatype, shape)
    return DecodedRequest(None, {spec.name: array}, None, True, None)


def _timeout(parameters: Parameters) -> float | None:
    """Triton's `timeout` request parameter, in microseconds (a uint64 there)."""
    value = parameters.get("timeout")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**64:
        raise InvalidInput("parameter 'timeout' must be a positive integer number of microseconds below 2**64")
    return value / 1e6


def _summary(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, err['loc'])) or 'body'}: {err['msg']}" for err in exc.errors()[:5])
