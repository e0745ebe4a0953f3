"""Closed doors: configuration mistakes refused at start-up, readiness that means a model serves, jobs that belong
to their key, CORS, page headers, guarded docs and metrics, honest reload failures, and 503 past the grace period."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest

from benchmarks.load import json_request
from benchmarks.server import ROOT
from tests.service.conftest import ADMIN_TOKEN, Server

SCALE = json_request({"x": np.ones((1, 4), np.float32)})
RunServer = Callable[..., Server]


def _start_with(environment: dict[str, str], repository: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("POSECAST_")}
    env |= {"POSECAST_REPOSITORY": str(repository), "POSECAST_PORT": "1", **environment}
    return subprocess.run(
        [sys.executable, "-m", "service"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [("POSECAST_ADMIN_TOKEN", ""), ("POSECAST_ADMIN_TOKEN", "  "), ("POSECAST_API_KEYS", " , "),
     ("POSECAST_API_KEYS", ""), ("POSECAST_API_KEYS", "good,")],
)  # fmt: skip
def test_blank_credentials_are_refused_at_start_up(tmp_path: Path, variable: str, value: str) -> None:
    """An empty compose variable or secret must not open the admin API or turn API keys off."""
    result = _start_with({variable: value}, tmp_path)
    assert result.returncode != 0
    assert "invalid configuration" in result.stderr
    assert variable in result.stderr


def test_a_pending_body_budget_below_the_largest_body_is_refused_at_start_up(tmp_path: Path) -> None:
    result = _start_with({"POSECAST_MAX_BODY_BYTES": "1000", "POSECAST_MAX_PENDING_BODY_BYTES": "999"}, tmp_path)
    assert result.returncode != 0
    assert "POSECAST_MAX_PENDING_BODY_BYTES is below POSECAST_MAX_BODY_BYTES" in result.stderr


def test_unknown_variables_are_named_at_start_up(repository: Path, run_server: RunServer) -> None:
    # A misspelt POSECAST_REPOSITORY, and the client's key where the server's POSECAST_API_KEYS was meant.
    server = run_server(repository, model_repository="/elsewhere", api_key="secret")
    logs = server.logs()
    assert "POSECAST_MODEL_REPOSITORY is not a posecast setting and is ignored" in logs
    assert "POSECAST_REPOSITORY" in logs.split("ignored; known:")[1]
    assert "POSECAST_API_KEY is not a server setting" in logs
    assert "the server's own keys are POSECAST_API_KEYS" in logs
    assert httpx.get(f"{server.url}/v2/models/pose").status_code == 200  # POSECAST_API_KEY set no key


def test_an_empty_repository_is_not_ready_unless_allowed(tmp_path: Path, run_server: RunServer) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    server = run_server(empty, ready=False)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{server.url}/v2/health/ready", timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)
            continue
        if "holds no model" in response.text:
            break
        time.sleep(0.1)
    assert response.status_code == 503
    assert "POSECAST_READY_WITHOUT_MODELS" in response.json()["error"]
    allowed = run_server(empty, ready_without_models="true")
    with allowed.client() as http:
        assert http.get("/v2/health/ready").status_code == 200


def test_jobs_belong_to_the_key_that_created_them(task_repository: Path, run_server: RunServer) -> None:
    server = run_server(task_repository, api_keys="key-a,key-b", eval_sync_max_samples="0")
    arrays = io_npz({"sequences": np.zeros((3, 4, 3), np.float32), "targets": np.zeros((3, 2, 3), np.float32)})
    with server.client(**{"X-API-Key": "key-a"}) as owner, server.client(**{"X-API-Key": "key-b"}) as other:
        response = owner.post("/v1/models/series/evaluate", files={"dataset": ("set.npz", arrays)})
        assert response.status_code == 202, response.text
        status_url = response.json()["status_url"]
        assert owner.get(status_url).status_code == 200
        stranger = other.get(status_url)
        assert stranger.status_code == 404
        assert stranger.json() == {"error": f"unknown job '{status_url.rsplit('/', 1)[1]}': it never existed or "
                                   "its result expired"}  # fmt: skip


def io_npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_admin_errors_do_not_reveal_the_repository_path(server: Server, repository: Path) -> None:
    with server.client(Authorization=f"Bearer {ADMIN_TOKEN}") as admin:
        response = admin.post("/v2/repository/models/nothing-here/load")
    assert response.status_code == 404
    assert str(repository) not in response.text
    assert "/tmp" not in response.text


def test_cors_is_off_by_default_and_answers_preflight_when_configured(repository: Path, run_server: RunServer) -> None:
    preflight = {
        "Origin": "https://app.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-api-key",
    }
    closed = run_server(repository)
    with closed.client() as http:
        assert "access-control-allow-origin" not in http.options("/v2/models/scale/infer", headers=preflight).headers
        assert "access-control-allow-origin" not in http.get("/v2", headers={"Origin": "https://app.example"}).headers
    server = run_server(repository, cors_origins="https://app.example")
    with server.client() as http:
        answer = http.options("/v2/models/scale/infer", headers=preflight)
        assert answer.status_code == 200
        assert answer.headers["access-control-allow-origin"] == "https://app.example"
        assert "x-api-key" in answer.headers["access-control-allow-headers"].lower()
        simple = http.post("/v2/models/scale/infer", json=SCALE, headers={"Origin": "https://app.example"})
        assert simple.headers["access-control-allow-origin"] == "https://app.example"
        assert "inference-header-content-length" in simple.headers["access-control-expose-headers"].lower()
        other = http.options("/v2/models/scale/infer", headers=preflight | {"Origin": "https://evil.example"})
        assert other.status_code == 400
        assert "access-control-allow-origin" not in other.headers


def test_pages_forbid_framing_and_the_demo_page_has_a_csp(server: Server) -> None:
    with server.client() as http:
        demo = http.get("/")
        assert "default-src 'self'" in demo.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in demo.headers["content-security-policy"]
        for path in ("/", "/docs", "/redoc"):
            assert http.get(path).headers["x-frame-options"] == "DENY", path


def test_docs_and_metrics_are_open_or_guarded_by_configuration(repository: Path, run_server: RunServer) -> None:
    guarded = ("/openapi.json", "/docs", "/redoc", "/metrics")
    server = run_server(repository, api_keys="key-a", docs_require_key="true", metrics_require_key="true")
    with server.client() as anonymous, server.client(**{"X-API-Key": "key-a"}) as keyed:
        for path in guarded:
            assert anonymous.get(path).status_code == 401, path
            assert keyed.get(path).status_code == 200, path
    open_server = run_server(repository, api_keys="key-a")  # the default: keys on models only
    with open_server.client() as anonymous:
        for path in guarded:
            assert anonymous.get(path).status_code == 200, path
        assert anonymous.post("/v2/models/scale/infer", json=SCALE).status_code == 401


def test_a_failed_reload_says_so(repository: Path, tmp_path: Path, run_server: RunServer) -> None:
    """The previous copy keeps serving, and the answer is a 400 that names the version whose new file failed."""
    copy = tmp_path / "repository"
    shutil.copytree(repository / "scale", copy / "scale")
    server = run_server(copy)
    with server.client(Authorization=f"Bearer {ADMIN_TOKEN}") as admin:
        (copy / "scale" / "2" / "model.onnx").write_bytes(b"garbage, not ONNX")
        response = admin.post("/v2/repository/models/scale/load")
        assert response.status_code == 400, response.text
        body = response.json()
        assert set(body["failed"]) == {"2"}
        assert body["versions"] == {"1": "READY", "2": "READY"}  # version 2 still serves its previous copy
        assert "failed to load 'scale'" in body["error"]
        assert admin.post("/v2/models/scale/versions/2/infer", json=SCALE).status_code == 200


def test_requests_still_running_past_the_grace_period_get_503(repository: Path, run_server: RunServer) -> None:
    """A 10 s batching window outlasts a 1 s grace period: every queued request is answered 503 + Retry-After."""
    server = run_server(repository, max_queue_delay_ms="10000", max_batch_size="64", grace_period_s="1")
    queued = 'posecast_pending_requests{model="scale",version="2"} 16.0'

    async def run() -> list[tuple[int, str | None]]:
        async with server.async_client() as http:
            posts = [asyncio.ensure_future(http.post("/v2/models/scale/infer", json=SCALE)) for _ in range(16)]
            deadline = time.monotonic() + 5
            while queued not in (await http.get("/metrics")).text:  # all 16 inside the window, however slow the host
                assert time.monotonic() < deadline, "the requests never all reached the queue"
                await asyncio.sleep(0.05)
            server.process.send_signal(signal.SIGTERM)
            responses = await asyncio.gather(*posts)
            return [(response.status_code, response.headers.get("retry-after")) for response in responses]

    assert asyncio.run(run()) == [(503, "1")] * 16
    server.process.wait(timeout=15)
    assert "Exception in ASGI application" not in server.logs()
