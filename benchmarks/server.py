"""`python -m service` subprocesses on 127.0.0.1 for the benchmarks, their smoke test and the service tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import httpx

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # benchmarks never send traffic anywhere else


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A `python -m service` subprocess; its log goes to a file so a full pipe never stalls it."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    @classmethod
    def start(cls, repository: Path, log: Path, settings: Mapping[str, str]) -> Self:
        """Start without waiting; `settings` are lower-case Settings fields (`{"max_batch_size": "1"}`)."""
        port = free_port()
        env = {key: value for key, value in os.environ.items() if not key.startswith("POSECAST_")}
        env.update(POSECAST_REPOSITORY=str(repository.resolve()), POSECAST_HOST=HOST, POSECAST_PORT=str(port))
        env.update({f"POSECAST_{key.upper()}": value for key, value in settings.items()})
        return cls.launch([sys.executable, "-m", "service"], port, log, env)

    @classmethod
    def launch(cls, command: Sequence[str], port: int, log: Path, env: Mapping[str, str] | None = None) -> Self:
        """Any server command that listens on 127.0.0.1:`port` (the peers too), in a session of its own.

        Its own session lets `stop` reach helper processes a server leaves behind (PyTriton's tritonserver).
        """
        with log.open("wb") as sink:
            process = subprocess.Popen(
                list(command),
                cwd=ROOT,
                env=None if env is None else dict(env),
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(process, f"http://{HOST}:{port}", log)

    def wait_ready(self, timeout_s: float = 60.0, path: str = "/v2/health/ready") -> list[str]:
        """Poll `path` until 200; returns the execution providers the server reports (posecast does)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.logs()}")
            try:
                response = httpx.get(f"{self.url}{path}", timeout=1)
                if response.status_code == 200:
                    return list(response.json().get("providers", [])) if response.content else []
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server not ready within {timeout_s:g} s:\n{self.logs()}")

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        """SIGTERM (graceful drain), SIGKILL if it takes longer than 15 s, then SIGKILL what it left behind."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the session launch() created: only its processes
