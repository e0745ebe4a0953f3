"""Pure pieces: datatypes, JSON and binary tensor data, V2 request framing, collate/split/plan, settings."""

from __future__ import annotations

import asyncio
import json
import logging
import struct

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, Gauge
from starlette.types import Message, Receive, Scope, Send

from modelcard import TensorSpec
from service import protocol, tensors
from service.api.common import coco_json
from service.batching import batch_key, collate, plan, split
from service.errors import InferenceError, InvalidInput
from service.logs import JsonFormatter, RequestIdFilter, request_id_var
from service.middleware import RequestBodyMiddleware
from service.settings import Settings
from service.tasks.pose import ImagePoses, Keypoints

NUMERIC = [
    "BOOL",
    "UINT8",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT16",
    "UINT32",
    "UINT64",
    "FP16",
    "FP32",
    "FP64",
]


@pytest.mark.parametrize("datatype", NUMERIC)
def test_json_and_binary_round_trip_every_datatype(datatype: str) -> None:
    values = [[True, False, True], [False, True, True]] if datatype == "BOOL" else [[0, 1, 2], [3, 4, 5]]
    from_nested = tensors.from_json("x", values, datatype, [2, 3])
    from_flat = tensors.from_json("x", [v for row in values for v in row], datatype, [2, 3])
    assert from_nested.dtype == tensors.numpy_dtype(datatype)
    np.testing.assert_array_equal(from_nested, from_flat)
    assert tensors.v2_datatype(from_nested.dtype) == datatype
    binary = tensors.to_binary(from_nested)
    np.testing.assert_array_equal(tensors.from_binary("x", memoryview(binary), datatype, [2, 3]), from_nested)
    assert tensors.to_json(from_nested) == from_flat.ravel().tolist()


def test_bytes_tensors_use_length_prefixed_framing() -> None:
    array = tensors.from_json("s", ["ab", "", "héllo"], "BYTES", [3])
    framed = tensors.to_binary(array)
    assert framed[:6] == struct.pack("<I", 2) + b"ab"
    np.testing.assert_array_equal(tensors.from_binary("s", memoryview(framed), "BYTES", [3]), array)
    assert tensors.to_json(array) == ["ab", "", "héllo"]
    with pytest.raises(InvalidInput, match="overruns"):
        tensors.from_binary("s", memoryview(struct.pack("<I", 9) + b"ab"), "BYTES", [1])


@pytest.mark.parametrize(
    ("data", "datatype", "shape", "message"),
    [
        ([1, 2, 3], "FP32", [2, 2], "3 data elements"),
        ([1.5, 2], "INT32", [2], "does not fit"),
        ([300], "UINT8", [1], "out of range"),
        ([[1, 2], [3]], "FP32", [3], "ragged"),
        (["a"], "FP32", [1], "does not fit"),
        ([1], "COMPLEX", [1], "unsupported datatype"),
    ],
)
def test_bad_json_data_is_invalid_input(data: list, datatype: str, shape: list[int], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        tensors.from_json("x", data, datatype, shape)


def test_binary_size_must_match_shape() -> None:
    with pytest.raises(InvalidInput, match="binary_data_size is 8 bytes"):
        tensors.from_binary("x", memoryview(b"\0" * 8), "FP32", [1, 3])


def test_binary_input_is_a_view_on_the_body() -> None:
    """The fast path: no copy of the request bytes."""
    body = np.arange(6, dtype=np.float32).tobytes()
    array = tensors.from_binary("x", memoryview(body), "FP32", [2, 3])
    assert not array.flags.owndata


def _binary_body(header: dict, *chunks: bytes) -> tuple[bytes, int]:
    head = json.dumps(header).encode()
    return head + b"".join(chunks), len(head)


IMAGE = [TensorSpec(name="image", datatype="FP32", shape=[-1, 3, 2, 2])]
ELEMENTS = Settings().max_request_elements


def test_decode_mixes_json_and_binary_inputs_and_outputs() -> None:
    a = np.arange(4, dtype=np.float32).reshape(1, 4)
    header = {
        "id": "req-1",
        "inputs": [
            {"name": "a", "shape": [1, 4], "datatype": "FP32", "parameters": {"binary_data_size": 16}},
            {"name": "b", "shape": [2], "datatype": "INT64", "data": [7, 8]},
        ],
        "outputs": [{"name": "y", "parameters": {"binary_data": True}}, {"name": "z"}],
        "parameters": {"timeout": 250000},
    }
    body, length = _binary_body(header, a.tobytes())
    decoded = protocol.decode_request(body, length, IMAGE, ELEMENTS)
    np.testing.assert_array_equal(decoded.inputs["a"], a)
    np.testing.assert_array_equal(decoded.inputs["b"], [7, 8])
    assert decoded.outputs == [protocol.OutputChoice("y", True), protocol.OutputChoice("z", False)]
    assert decoded.timeout_s == 0.25
    results = {"y": np.ones((1, 2), np.float32), "z": np.zeros(3, np.float16)}
    content, json_length = protocol.encode_response("m", "1", decoded, results, Settings().max_response_bytes)
    assert json_length is not None
    response = json.loads(content[:json_length])
    assert response["id"] == "req-1"
    assert response["outputs"][0]["parameters"] == {"binary_data_size": 8}
    assert response["outputs"][1] == {"name": "z", "datatype": "FP16", "shape": [3], "data": [0.0, 0.0, 0.0]}
    assert content[json_length:] == results["y"].tobytes()


@pytest.mark.parametrize(
    ("body", "header_length", "message"),
    [
        (b"{not json", None, "malformed"),
        (b'{"inputs": []}', None, "malformed"),
        (b'{"inputs": [{"name": "a", "shape": [1], "datatype": "FP32"}]}', None, "neither data"),
        (b"{}", 99, "exceeds the body"),
    ],
)
def test_malformed_requests_are_invalid_input(body: bytes, header_length: int | None, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        protocol.decode_request(body, header_length, IMAGE, ELEMENTS)


def test_trailing_or_missing_binary_bytes_are_rejected() -> None:
    header = {"inputs": [{"name": "a", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]}
    body, length = _binary_body(header, b"\0" * 12)
    with pytest.raises(InvalidInput, match="4 bytes after"):
        protocol.decode_request(body, length, IMAGE, ELEMENTS)
    with pytest.raises(InvalidInput, match="overruns"):
        protocol.decode_request(body[: length + 4], length, IMAGE, ELEMENTS)


def test_raw_binary_request_deduces_the_shape() -> None:
    pixels = np.arange(12, dtype=np.float32)
    decoded = protocol.decode_request(pixels.tobytes(), 0, IMAGE, ELEMENTS)
    assert decoded.inputs["image"].shape == (1, 3, 2, 2)
    assert decoded.binary_output
    assert decoded.outputs is None
    sequence = [TensorSpec(name="s", datatype="FP32", shape=[-1, -1, 4])]
    assert protocol.decode_request(pixels.tobytes(), 0, sequence, ELEMENTS).inputs["s"].shape == (1, 3, 4)
    with pytest.raises(InvalidInput, match="32 bytes does not fit"):
        protocol.decode_request(pixels[:8].tobytes(), 0, IMAGE, ELEMENTS)
    with pytest.raises(InvalidInput, match="exactly one input"):
        protocol.decode_request(pixels.tobytes(), 0, IMAGE * 2, ELEMENTS)


def test_collate_and_split_round_trip() -> None:
    requests = [{"x": np.full((n, 2), n, np.float32)} for n in (1, 3, 2)]
    joined, sizes = collate(requests)
    assert joined["x"].shape == (6, 2)
    assert sizes == [1, 3, 2]
    parts = split({"y": joined["x"] * 2}, sizes)
    assert len(parts) == len(requests)
    for request, part in zip(requests, parts, strict=True):
        np.testing.assert_array_equal(part["y"], request["x"] * 2)
    with pytest.raises(InferenceError, match="expected 6"):
        split({"y": np.zeros((5, 2))}, sizes)


def test_batch_key_separates_shapes_and_dtypes_but_not_batch_size() -> None:
    key = batch_key({"x": np.zeros((1, 5, 4), np.float32)})
    assert key == batch_key({"x": np.zeros((7, 5, 4), np.float32)})
    assert key != batch_key({"x": np.zeros((1, 6, 4), np.float32)})
    assert key != batch_key({"x": np.zeros((1, 5, 4), np.float64)})


def test_plan_groups_by_key_and_respects_the_limit() -> None:
    items = [("a", 2), ("b", 1), ("a", 2), ("a", 1), ("b", 4), ("a", 3)]
    runs = plan(items, key=lambda i: ((i[0], "", ()),), size=lambda i: i[1], limit=4)
    assert runs == [[("a", 2), ("a", 2)], [("a", 1), ("a", 3)], [("b", 1)], [("b", 4)]]
    assert sorted(i for run in runs for i in run) == sorted(items)


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POSECAST_PROVIDERS", "CUDAExecutionProvider, CPUExecutionProvider")
    monkeypatch.setenv("POSECAST_API_KEYS", "k1,k2")
    monkeypatch.setenv("POSECAST_MAX_BATCH_SIZE", "4")
    monkeypatch.setenv("POSECAST_REQUIRE_GPU", "true")
    settings = Settings()
    assert settings.providers == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert [key.get_secret_value() for key in settings.api_keys] == ["k1", "k2"]
    assert settings.max_batch_size == 4
    assert settings.require_gpu
    assert "k1" not in repr(settings)
    with pytest.raises(ValueError, match="cannot be combined"):
        Settings(providers=["auto", "CPUExecutionProvider"])


def test_a_larger_body_limit_raises_the_pending_body_budget_with_it() -> None:
    """A deployment that raised POSECAST_MAX_BODY_BYTES past the budget's default keeps starting; one that set both
    inconsistently does not."""
    assert Settings().max_pending_body_bytes == 256 << 20
    assert Settings(max_body_bytes=512 << 20).max_pending_body_bytes == 512 << 20
    with pytest.raises(ValueError, match="could never arrive"):
        Settings(max_body_bytes=512 << 20, max_pending_body_bytes=300 << 20)


def test_json_log_lines_carry_the_request_id() -> None:
    record = logging.LogRecord("service.x", logging.WARNING, __file__, 1, "hello %s", ("there",), None)
    token = request_id_var.set("req-7")
    try:
        RequestIdFilter().filter(record)
    finally:
        request_id_var.reset(token)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello there"
    assert line["request_id"] == "req-7"
    assert line["level"] == "warning"


def test_coco_results_hold_a_non_finite_keypoint_as_null() -> None:
    """A model may answer NaN (a box it cannot place, an overflow): the COCO list stays JSON, as the default
    format does, instead of failing to encode."""
    points = np.array([[10.0, 20.0], [np.nan, np.inf]])
    person = Keypoints(points, np.array([0.5, np.nan], np.float32), 64, 64, (0.0, 0.0, 64.0, 64.0))
    decoded = json.loads(coco_json([ImagePoses(64, 64, [person], boxed=True)], [7]))
    assert decoded[0]["image_id"] == 7
    assert decoded[0]["keypoints"][:3] == [9.5, 19.5, 0.5]
    assert decoded[0]["keypoints"][3:] == [None, None, None]


def test_a_wait_for_the_body_that_outlives_the_start_of_the_answer_raises_nothing() -> None:
    """A file response reads the request on only to see the client leave. When that read already waited as the
    answer began, its timeout raised a 408 into a response that had started: a cut answer and two tracebacks."""

    async def scenario() -> None:
        client_silent = asyncio.Event()
        sent: list[str] = []

        async def receive() -> Message:
            await client_silent.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            sent.append(message["type"])

        async def file_response(scope: Scope, receive: Receive, send: Send) -> None:
            listener = asyncio.ensure_future(receive())
            await asyncio.sleep(0)  # waiting under the 0.1 s body timeout
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await asyncio.sleep(0.3)  # a slow reader of a large file: past that timeout
            assert not listener.done(), listener.exception()
            listener.cancel()
            await send({"type": "http.response.body", "body": b"file"})

        gauge = Gauge("pending", "pending", registry=CollectorRegistry())
        middleware = RequestBodyMiddleware(file_response, 1000, 0.1, 10.0, 1000, gauge)
        await middleware({"type": "http", "headers": [(b"content-length", b"10")]}, receive, send)
        assert sent == ["http.response.start", "http.response.body"]

    asyncio.run(scenario())
