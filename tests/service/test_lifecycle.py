"""Overload, timeouts, disconnects, SIGTERM, GPU requirement and the no-torch rule, each on its own server."""

from __future__ import annotations

import asyncio
import gc
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn

from benchmarks.load import json_request
from benchmarks.server import ROOT
from service.__main__ import YOUNGEST_GENERATION_THRESHOLD, DrainingServer, serve
from service.app import create_app
from service.settings import Settings
from tests.service.conftest import Server, start_server

SCALE = json_request({"x": np.ones((1, 4), np.float32)})


@pytest.fixture(scope="module")
def slow_server(repository: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A 400 ms batching window and room for 4 outstanding requests, so queues are easy to fill."""
    log = tmp_path_factory.mktemp("slow") / "server.log"
    server = start_server(repository, log, max_queue_delay_ms="400", max_batch_size="64", max_queue_size="4")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_full_queue_answers_503_with_retry_after(slow_server: Server) -> None:
    async def run() -> list[httpx.Response]:
        async with slow_server.async_client() as http:
            return await asyncio.gather(*(http.post("/v2/models/scale/infer", json=SCALE) for _ in range(8)))

    responses = asyncio.run(run())
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) >= 4, codes
    assert set(codes) <= {200, 503}, codes
    refused = [r for r in responses if r.status_code == 503]
    assert refused
    assert all(r.headers["retry-after"] == "1" and "queue is full" in r.json()["error"] for r in refused)


def test_request_past_its_timeout_answers_504(slow_server: Server) -> None:
    body = {**SCALE, "parameters": {"timeout": 50_000}}  # 50 ms, shorter than the batching window
    with slow_server.client() as http:
        response = http.post("/v2/models/scale/infer", json=body)
        assert response.status_code == 504
        assert "no result within" in response.json()["error"]
        assert http.post("/v2/models/scale/infer", json=SCALE).status_code == 200


def test_disconnected_client_is_dropped_from_the_queue(slow_server: Server) -> None:
    with slow_server.client() as http:
        before = http.get("/v2/models/pose/stats").json()["model_stats"][0]["inference_count"]
        image = json_request({"image": np.zeros((1, 3, 32, 32), np.float32)})
        payload = httpx.Request("POST", "/v2/models/pose/infer", json=image)
        head = "POST /v2/models/pose/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        body = payload.read()
        with socket.create_connection(("127.0.0.1", httpx.URL(slow_server.url).port)) as sock:
            sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            time.sleep(0.1)  # queued, waiting for the 400 ms window
        assert http.post("/v2/models/pose/infer", json=image).status_code == 200
        after = http.get("/v2/models/pose/stats").json()["model_stats"][0]["inference_count"]
        assert after - before == 1  # only the request whose client stayed
        metrics = http.get("/metrics").text
        assert 'posecast_requests_total{model="pose",outcome="cancelled",version="1"} 1.0' in metrics


def test_sigterm_under_load_drops_no_in_flight_request(repository: Path, run_server: Callable[..., Server]) -> None:
    server = run_server(repository, max_queue_delay_ms="500", max_batch_size="64", grace_period_s="10")

    async def run() -> list[int]:
        async with server.async_client() as http:
            posts = [asyncio.ensure_future(http.post("/v2/models/scale/infer", json=SCALE)) for _ in range(12)]
            await asyncio.sleep(0.2)  # all queued inside the 500 ms window
            server.process.send_signal(signal.SIGTERM)
            return [response.status_code for response in await asyncio.gather(*posts)]

    assert asyncio.run(run()) == [200] * 12
    server.process.wait(timeout=15)
    assert "Shutting down" in server.logs()


def test_oversized_chunked_bodies_answer_413(repository: Path, run_server: Callable[..., Server]) -> None:
    """No Content-Length, so the limit trips while the body streams in, also inside FastAPI's own body parsing."""
    server = run_server(repository, max_body_bytes="1000")

    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b" " * 600

    routes = [
        ("/v2/models/scale/infer", "application/json"),
        ("/v1/models/pose/pose", "image/png"),
        ("/v1/evaluate/mse", "application/json"),  # a body parameter: FastAPI reads the body, not the route
    ]
    with server.client() as http:
        for path, content_type in routes:
            response = http.post(path, content=chunks(), headers={"Content-Type": content_type})
            assert response.status_code == 413, (path, response.text)
            assert "POSECAST_MAX_BODY_BYTES" in response.json()["error"]
        assert http.post("/v2/models/scale/infer", json=SCALE).status_code == 200


@pytest.mark.usefixtures("restore_logging")
def test_readiness_turns_503_as_soon_as_shutdown_begins(repository: Path) -> None:
    app = create_app(Settings(repository=repository))
    DrainingServer(uvicorn.Config(app), app).handle_exit(signal.SIGTERM, None)

    async def ready() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            return await http.get("/v2/health/ready")

    response = asyncio.run(ready())
    assert response.status_code == 503
    assert "shutting down" in response.json()["error"]


def test_require_gpu_refuses_to_start_without_one(repository: Path, run_server: Callable[..., Server]) -> None:
    server = run_server(repository, ready=False, require_gpu="true")
    assert server.process.wait(timeout=30) != 0
    assert "POSECAST_REQUIRE_GPU is set but no GPU execution provider is usable" in server.logs()


NO_TORCH = """
import asyncio, sys
import httpx
from service.app import create_app
from service.settings import Settings

async def main():
    app = create_app(Settings(repository=sys.argv[1], providers=["CPUExecutionProvider"]))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            while (await http.get("/v2/health/ready")).status_code != 200:
                await asyncio.sleep(0.05)
            body = {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
            assert (await http.post("/v2/models/scale/infer", json=body)).status_code == 200
    assert "torch" not in sys.modules, "the serving path imported torch"

asyncio.run(main())
"""


def test_serving_never_imports_torch(repository: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", NO_TORCH, str(repository)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.usefixtures("restore_logging")
def test_unexpected_errors_are_logged_and_answered_with_a_generic_500(
    repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(Settings(repository=repository))

    def explode(*_: Any) -> None:
        raise RuntimeError("secret detail")

    monkeypatch.setattr("service.v2._server_version", explode)

    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            return await http.get("/v2", headers={"X-Request-ID": "r-1"})

    response = asyncio.run(call())
    assert response.status_code == 500
    assert response.json() == {"error": "internal server error"}
    assert response.headers["x-request-id"] == "r-1"


def test_a_server_process_collects_its_youngest_generation_less_often_and_the_older_ones_as_before(
    repository: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`serve` sets the thresholds before uvicorn runs (its `run` stands in here, recording them)."""
    before = gc.get_threshold()
    serving: list[tuple[int, ...]] = []
    monkeypatch.setattr(DrainingServer, "run", lambda server, sockets=None: serving.append(gc.get_threshold()))
    try:
        serve(Settings(repository=repository))
        assert serving == [(YOUNGEST_GENERATION_THRESHOLD, *before[1:])]
        assert before[0] < YOUNGEST_GENERATION_THRESHOLD
    finally:
        gc.set_threshold(*before)
