"""The V2 protocol over a real uvicorn on 127.0.0.1 with real ONNX files, through httpx."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from benchmarks.load import binary_request, decode, json_request
from tests.service.conftest import ADMIN_TOKEN, API_KEY, Server
from tests.service.v2client import reference

AUTH = {"authorization": f"Bearer {API_KEY}"}
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def client(server: Server) -> httpx.Client:
    with server.client(**AUTH) as http:
        yield http


def images(count: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.random((1, 3, 32, 32), dtype=np.float32) for _ in range(count)]


def test_server_metadata_and_health(client: httpx.Client) -> None:
    meta = client.get("/v2").json()
    assert meta["name"] == "posecast"
    assert {"binary_tensor_data", "statistics", "model_repository"} <= set(meta["extensions"])
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True, "providers": ["CPUExecutionProvider"]}


def test_uptime_monitors_may_probe_with_head(client: httpx.Client) -> None:
    for path in ("/v2/health/live", "/v2/health/ready", "/"):
        probed = client.head(path)
        assert probed.status_code == 200, path
        assert probed.content == b""
        assert int(probed.headers["content-length"]) == len(client.get(path).content)
    assert "head" not in client.get("/openapi.json").json()["paths"]["/v2/health/ready"]


def test_model_metadata_and_readiness(client: httpx.Client) -> None:
    meta = client.get("/v2/models/scale").json()
    assert meta["versions"] == ["1", "2"]
    assert meta["version"] == "2"
    assert meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 4]}]
    assert meta["provider"] == "CPUExecutionProvider"
    assert client.get("/v2/models/scale/versions/1").json()["version"] == "1"
    assert client.get("/v2/models/pose/ready").status_code == 200
    garbage = client.get("/v2/models/garbage/ready")
    assert garbage.status_code == 400
    assert "INVALID_PROTOBUF" in garbage.json()["error"]
    assert client.get("/v2/models/garbage").json()["state"] == "UNAVAILABLE"


def test_json_results_equal_local_onnxruntime(client: httpx.Client, onnx_files: dict[str, Path]) -> None:
    image = images(1)[0]
    response = client.post("/v2/models/pose/infer", json=json_request({"image": image}, id="abc"))
    assert response.json()["id"] == "abc"
    assert response.json()["model_version"] == "1"
    outputs = decode(response)
    expected = reference(onnx_files["pose"], {"image": image})
    for name in ("keypoints", "confidence"):
        np.testing.assert_array_equal(outputs[name], expected[name])


def test_nested_json_data_and_versions(client: httpx.Client) -> None:
    body = {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP32", "data": [[1, 2, 3, 4], [5, 6, 7, 8]]}]}
    latest = decode(client.post("/v2/models/scale/infer", json=body))["y"]
    first = decode(client.post("/v2/models/scale/versions/1/infer", json=body))["y"]
    np.testing.assert_array_equal(latest, 2 * first)


def test_binary_and_json_paths_give_identical_outputs(client: httpx.Client) -> None:
    image = images(1, seed=1)[0]
    via_json = decode(client.post("/v2/models/pose/infer", json=json_request({"image": image})))
    content, headers = binary_request({"image": image})
    response = client.post("/v2/models/pose/infer", content=content, headers=headers)
    assert response.headers["content-type"] == "application/octet-stream"
    via_binary = decode(response)
    assert via_json.keys() == via_binary.keys()
    for name in via_json:
        np.testing.assert_array_equal(via_json[name], via_binary[name])


def test_output_selection_and_per_output_binary_flag(client: httpx.Client) -> None:
    image = images(1, seed=2)[0]
    outputs = [{"name": "confidence", "parameters": {"binary_data": True}}]
    content, headers = binary_request({"image": image}, outputs=outputs, binary_output=False)
    selected = decode(client.post("/v2/models/pose/infer", content=content, headers=headers))
    assert list(selected) == ["confidence"]
    assert selected["confidence"].shape == (1, 17)
    as_json = client.post("/v2/models/pose/infer", json=json_request({"image": image}, outputs=[{"name": "keypoints"}]))
    assert [out["name"] for out in as_json.json()["outputs"]] == ["keypoints"]


def test_raw_binary_request(client: httpx.Client) -> None:
    image = images(1, seed=3)[0]
    headers = {"Inference-Header-Content-Length": "0", "Content-Type": "application/octet-stream"}
    raw = decode(client.post("/v2/models/pose/infer", content=image.tobytes(), headers=headers))
    full = decode(client.post("/v2/models/pose/infer", json=json_request({"image": image})))
    np.testing.assert_array_equal(raw["keypoints"], full["keypoints"])
    sequence = np.arange(24, dtype=np.float32)  # deduced as (1, 6, 4)
    forecast = decode(client.post("/v2/models/sequence/infer", content=sequence.tobytes(), headers=headers))
    assert forecast["forecast"].shape == (1, 5, 4)


def test_request_id_is_accepted_or_generated_and_echoed(client: httpx.Client) -> None:
    assert client.get("/v2", headers={"X-Request-ID": "trace-42"}).headers["x-request-id"] == "trace-42"
    generated = {client.get("/v2").headers["x-request-id"] for _ in range(50)}
    assert len(generated) == 50
    assert all(re.fullmatch("[0-9a-f]{32}", request_id) for request_id in generated)
    assert client.post("/v2/models/nope/infer", json={}).headers["x-request-id"]


def _pose(shape: list[int] | None = None, datatype: str = "FP32", data: list[Any] | None = None) -> dict[str, Any]:
    shape = shape or [1, 3, 32, 32]
    values = data if data is not None else [0.5] * int(np.prod(shape))
    return {"inputs": [{"name": "image", "shape": shape, "datatype": datatype, "data": values}]}


BAD_REQUESTS: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("wrong shape", "/v2/models/pose/infer", {"json": _pose([1, 3, 16, 16])}, 400, "must have shape"),
    ("wrong datatype", "/v2/models/pose/infer", {"json": _pose(datatype="FP64")}, 400, "must be FP32"),
    ("data length", "/v2/models/pose/infer", {"json": _pose(data=[0.5] * 10)}, 400, "10 data elements"),
    (
        "malformed json",
        "/v2/models/pose/infer",
        {"content": b'{"inputs": [', "headers": {}},
        400,
        "malformed",
    ),
    ("unknown model", "/v2/models/nope/infer", {"json": _pose()}, 404, "unknown model"),
    ("unknown version", "/v2/models/pose/versions/9/infer", {"json": _pose()}, 404, "no version '9'"),
    (
        "unknown output",
        "/v2/models/pose/infer",
        {"json": {**_pose(), "outputs": [{"name": "z"}]}},
        400,
        "no output",
    ),
    ("not ready model", "/v2/models/tampered/infer", {"json": _pose()}, 503, "not ready"),
    (
        "timeout past uint64",
        "/v2/models/pose/infer",
        {"json": {**_pose(), "parameters": {"timeout": 10**400}}},
        400,
        "below 2**64",
    ),
    ("boolean dimension", "/v2/models/pose/infer", {"json": _pose([True, 3, 32, 32])}, 400, "valid integer"),
    (
        "binary flag as text",
        "/v2/models/pose/infer",
        {"json": {**_pose(), "parameters": {"binary_data_output": "yes"}}},
        400,
        "must be true or false",
    ),
    (
        "short sequence",
        "/v2/models/sequence/infer",
        {"json": json_request({"sequence": np.ones((1, 1, 4), np.float32)})},
        400,
        "time steps",
    ),
    ("oversize body", "/v2/models/pose/infer", {"content": b" " * (33 << 20), "headers": {}}, 413, "exceeds"),
]


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "message"), [b[1:] for b in BAD_REQUESTS], ids=[b[0] for b in BAD_REQUESTS]
)
def test_bad_requests_get_an_error_body_and_the_server_keeps_serving(
    client: httpx.Client, path: str, kwargs: dict[str, Any], status: int, message: str
) -> None:
    response = client.post(path, **kwargs)
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert client.post("/v2/models/pose/infer", json=_pose()).status_code == 200


def test_an_empty_output_list_asks_for_every_output(client: httpx.Client) -> None:
    every = client.post("/v2/models/pose/infer", json=_pose()).json()["outputs"]
    named_none = client.post("/v2/models/pose/infer", json={**_pose(), "outputs": []}).json()["outputs"]
    assert [output["name"] for output in named_none] == [output["name"] for output in every]
    assert len(every) > 1


def test_binary_size_mismatch_is_rejected(client: httpx.Client) -> None:
    content, headers = binary_request({"image": images(1)[0]})
    response = client.post("/v2/models/pose/infer", content=content[:-4], headers=headers)
    assert response.status_code == 400
    assert "binary_data_size" in response.json()["error"]


def test_api_keys_guard_model_routes_but_not_health(server: Server) -> None:
    with server.client() as anonymous:
        assert anonymous.get("/v2/health/ready").status_code == 200
        assert anonymous.get("/v2/models/pose").status_code == 401
        assert anonymous.get("/v2/models/pose", headers={"X-API-Key": "wrong"}).status_code == 401
        assert anonymous.get("/v2/models/pose", headers={"X-API-Key": API_KEY}).status_code == 200
        body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [0.0, 0.5, 1.0, 1.5]}]}
        for path in ("/v2/models/scale/infer", "/v2/models/scale/versions/1/infer"):  # served ahead of FastAPI
            refused = anonymous.post(path, json=body)
            assert refused.status_code == 401
            assert "API key" in refused.json()["error"]
            assert refused.headers["x-request-id"]
            assert anonymous.post(path, json=body, headers={"X-API-Key": API_KEY}).status_code == 200


def test_repository_api_requires_the_admin_token(server: Server) -> None:
    with server.client() as http:
        assert http.post("/v2/repository/models/scale/unload").status_code == 401
        assert http.post("/v2/repository/models/scale/load", headers=AUTH).status_code == 403
        refused = http.post("/v2/repository/index", headers={"X-Admin-Token": "wrong"})
        assert refused.status_code == 403
        assert "error" in refused.json()
        index = http.post("/v2/repository/index", headers=ADMIN, json={"ready": True}).json()
        assert {"name": "pose", "version": "1", "state": "READY", "reason": ""} in index
        assert all(entry["state"] == "READY" for entry in index)


def test_unload_and_load_at_run_time(server: Server) -> None:
    body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
    with server.client(**AUTH) as http:
        assert http.post("/v2/repository/models/scale/unload", headers=ADMIN).status_code == 200
        assert http.post("/v2/models/scale/infer", json=body).status_code == 503
        for path in ("/v2/models/scale/ready", "/v2/models/scale/versions/1/ready"):
            unloaded = http.get(path)
            assert unloaded.status_code == 400, unloaded.text  # as for a loading or failed model
            assert unloaded.json()["ready"] is False
            assert "not loaded" in unloaded.json()["error"]
        assert http.get("/v2/models/nope/ready").status_code == 404
        loaded = http.post("/v2/repository/models/scale/load", headers=ADMIN)
        assert loaded.json()["versions"] == {"1": "READY", "2": "READY"}
        assert http.post("/v2/models/scale/infer", json=body).status_code == 200
        failed = http.post("/v2/repository/models/garbage/load", headers=ADMIN)
        assert failed.status_code == 400
        assert "INVALID_PROTOBUF" in failed.json()["error"]


async def _concurrent_pose(server: Server, inputs: list[np.ndarray], binary: bool) -> list[dict[str, np.ndarray]]:
    async with server.async_client(**AUTH) as http:

        async def one(image: np.ndarray) -> dict[str, np.ndarray]:
            if binary:
                content, headers = binary_request({"image": image})
                return decode(await http.post("/v2/models/pose/infer", content=content, headers=headers))
            return decode(await http.post("/v2/models/pose/infer", json=json_request({"image": image})))

        return await asyncio.gather(*(one(image) for image in inputs))


def _stats(client: httpx.Client, model: str) -> dict[str, Any]:
    return client.get(f"/v2/models/{model}/stats").json()["model_stats"][0]


def test_batching_happens_under_load_and_matches_unbatched_results(
    client: httpx.Client, server: Server, onnx_files: dict[str, Path]
) -> None:
    before = _stats(client, "pose")
    inputs = images(48, seed=4)
    results = asyncio.run(_concurrent_pose(server, inputs, binary=True))
    results += asyncio.run(_concurrent_pose(server, inputs[:16], binary=False))
    after = _stats(client, "pose")
    inferences = after["inference_count"] - before["inference_count"]
    executions = after["execution_count"] - before["execution_count"]
    assert inferences == 64
    assert executions < inferences, (executions, inferences)
    assert any(batch["batch_size"] > 1 for batch in after["batch_stats"])
    for image, result in zip(inputs + inputs[:16], results, strict=True):
        expected = reference(onnx_files["pose"], {"image": image})
        for name, value in expected.items():
            np.testing.assert_allclose(result[name], value, rtol=1e-5, atol=1e-6)
    print(f"pose: {inferences} inferences in {executions} executions")


def test_sequences_of_different_lengths_batch_separately(client: httpx.Client, server: Server) -> None:
    rng = np.random.default_rng(5)
    sequences = [rng.random((1, 2 + i % 4, 4), dtype=np.float32) for i in range(24)]

    async def run() -> list[dict[str, np.ndarray]]:
        async with server.async_client(**AUTH) as http:
            posts = [http.post("/v2/models/sequence/infer", json=json_request({"sequence": s})) for s in sequences]
            return [decode(r) for r in await asyncio.gather(*posts)]

    results = asyncio.run(run())
    for sequence, result in zip(sequences, results, strict=True):
        alone = decode(client.post("/v2/models/sequence/infer", json=json_request({"sequence": sequence})))
        np.testing.assert_allclose(result["forecast"], alone["forecast"], rtol=1e-5, atol=1e-6)


def test_reload_under_load_fails_no_request(server: Server) -> None:
    async def run() -> list[int]:
        async with server.async_client(**AUTH) as http:
            stop = asyncio.Event()
            content, headers = binary_request({"image": images(1)[0]})

            async def hammer() -> list[int]:
                codes = []
                while not stop.is_set():
                    response = await http.post("/v2/models/pose/infer", content=content, headers=headers)
                    codes.append(response.status_code)
                return codes

            workers = [asyncio.ensure_future(hammer()) for _ in range(8)]
            for _ in range(3):
                reload = await http.post("/v2/repository/models/pose/load", headers=ADMIN)
                assert reload.status_code == 200, reload.text
            stop.set()
            return [code for codes in await asyncio.gather(*workers) for code in codes]

    codes = asyncio.run(run())
    assert len(codes) >= 8
    assert set(codes) == {200}, codes


def test_metrics_expose_requests_latency_batches_and_provider(client: httpx.Client) -> None:
    client.post("/v2/models/pose/infer", json=_pose())
    text = client.get("/metrics").text
    assert 'posecast_requests_total{model="pose",outcome="success",version="1"}' in text
    assert 'posecast_model_ready{model="pose",version="1"} 1.0' in text
    assert 'posecast_model_ready{model="garbage",version="1"} 0.0' in text
    assert 'posecast_model_provider{model="pose",provider="CPUExecutionProvider",version="1"} 1.0' in text
    for name in (
        "request_duration_seconds",
        "queue_duration_seconds",
        "compute_duration_seconds",
        "batch_size",
    ):
        assert f"posecast_{name}_bucket" in text
    assert "posecast_pending_requests" in text
    assert "posecast_executions_total" in text
