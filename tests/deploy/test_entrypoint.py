"""The serving image's exact command line, run outside Docker against the demo repository.

No Docker engine runs here, so this is how we know the container's entrypoint, its environment and its health
check work: the ENTRYPOINT and ENV of the `runtime-cpu` target are read from the Dockerfile and executed as they
are, with only the paths and the address adapted (the repository is copied to /app/model_repository in the image).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from benchmarks.server import free_port
from tests.deploy._files import (
    DOCKERFILE,
    HEALTHCHECK_SCRIPT,
    ROOT,
    exec_form,
    image_env,
    last_instruction,
    parse_dockerfile,
)

DEMO_REPOSITORY = ROOT / "model_repository"


def _image_command() -> tuple[list[str], dict[str, str]]:
    _, stage_list = parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))
    stages = {stage.name: stage for stage in stage_list}
    entrypoint = last_instruction(stages, "runtime-cpu", "ENTRYPOINT")
    assert entrypoint is not None
    command = exec_form(entrypoint.args)
    assert command is not None, "the entrypoint must be in exec form"
    return command, image_env(stages, "runtime-cpu")


def _wait(url: str, process: subprocess.Popen[bytes], timeout_s: float = 90) -> httpx.Response:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited with {process.returncode}"
        try:
            response = httpx.get(url, timeout=2)
            if response.status_code == 200:
                return response
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 within {timeout_s} s")


def test_image_entrypoint_serves_the_demo_repository(tmp_path: Path) -> None:
    command, image_env_vars = _image_command()
    assert command[:3] == ["python", "-m", "service"]
    assert image_env_vars["POSECAST_REPOSITORY"] == "/app/model_repository"
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("POSECAST_")}
    env |= {key: value for key, value in image_env_vars.items() if key.startswith("POSECAST_")}
    env |= {
        "POSECAST_REPOSITORY": str(DEMO_REPOSITORY),  # where the image's COPY puts it, seen from here
        "POSECAST_HOST": "127.0.0.1",  # the image binds 0.0.0.0; tests stay on loopback
        "POSECAST_PORT": str(port),
    }
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, *command[1:]], cwd=tmp_path, env=env, stdout=sink, stderr=sink)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(f"{base}/v2/health/live", process)
        _wait(f"{base}/v2/health/ready", process)  # fails unless it answers 200 in time
        served = {path.name for path in DEMO_REPOSITORY.iterdir() if path.is_dir()}
        index = httpx.post(f"{base}/v2/repository/index", json={}, timeout=5)
        assert index.status_code in (200, 403)  # 403: the repository API is off without an admin token
        for name in served:
            assert httpx.get(f"{base}/v2/models/{name}/ready", timeout=5).status_code == 200, name
        probe = subprocess.run(
            [sys.executable, str(HEALTHCHECK_SCRIPT)], env=env, capture_output=True, timeout=30, check=False
        )
        assert probe.returncode == 0, probe.stdout + probe.stderr
        assert b'"level"' in log.read_bytes() or b"request_id" in log.read_bytes(), "JSON logs as in the image"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            exit_code = process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
    # uvicorn re-raises the signal it handled once shutdown is complete: exit status 128 + 15 in a container.
    assert exit_code in (0, -signal.SIGTERM), log.read_text(errors="replace")[-3000:]
    assert "Finished server process" in log.read_text(errors="replace"), "a graceful shutdown, not a kill"
