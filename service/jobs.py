"""Background jobs for long evaluations: bounded, with progress counters and results kept a while.

A job runs in the process that accepted it. With a shared folder (POSECAST_JOBS_DIR, which the server sets for
its own workers) every state change is also written there, so whichever process a status request reaches can
answer it; without one, poll the replica that answered the 202 (or route `/v1/jobs` with sticky sessions).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from service.errors import JobNotFound, Overloaded, ServiceError

logger = logging.getLogger(__name__)

Status = Literal["running", "succeeded", "failed"]
MAX_FINISHED = 256  # finished jobs kept at most, oldest dropped first, even before their TTL
PUBLISH_EVERY_S = 0.5  # progress reaches the shared folder at most this often
JOB_ID = re.compile(r"[0-9a-f]{32}")  # uuid4().hex; nothing else names a file in the shared folder


@dataclass(eq=False)
class Job:
    """One job's state; `work` updates `done` as it goes."""

    id: str
    description: str
    total: int
    owner: str | None  # service.security.key_owner of the request that created it
    done: int = 0
    status: Status = "running"
    result: dict[str, Any] | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None
    task: asyncio.Task[None] | None = None
    published: float = 0.0  # when its state last reached the shared folder

    def view(self) -> dict[str, Any]:
        """The public JSON of `GET /v1/jobs/{id}`."""
        return {
            "job_id": self.id,
            "description": self.description,
            "status": self.status,
            "progress": {"done": self.done, "total": self.total},
            "created": self.created,
            "finished": self.finished,
            "result": self.result,
            "error": self.error,
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Job:
        """A job another process runs, as it last wrote itself to the shared folder."""
        view = record["view"]
        return cls(
            id=view["job_id"],
            description=view["description"],
            total=view["progress"]["total"],
            owner=record["owner"],
            done=view["progress"]["done"],
            status=view["status"],
            result=view["result"],
            error=view["error"],
            created=view["created"],
            finished=view["finished"],
        )


class JobManager:
    """At most `max_running` jobs run at once (in this process); finished ones stay readable for `ttl_s`."""

    def __init__(self, max_running: int, ttl_s: float, shared: Path | None = None) -> None:
        self._max_running = max_running
        self._ttl_s = ttl_s
        self._shared = shared
        if shared is not None:
            shared.mkdir(parents=True, exist_ok=True)
        self._jobs: dict[str, Job] = {}
        self._reserved = 0  # slots held by uploads still being read or scored at once

    @property
    def running(self) -> int:
        return sum(job.status == "running" for job in self._jobs.values())

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold a slot while an evaluation upload is read, then scored at once or handed to `submit`: at most
        `max_running` uploads are unpacked in memory at a time, and a busy server answers 503 before unpacking."""
        self._purge()
        if self.running + self._reserved >= self._max_running:
            raise self._busy()
        self._reserved += 1
        try:
            yield
        finally:
            self._reserved -= 1

    def submit(
        self, description: str, total: int, owner: str | None, work: Callable[[Job], Awaitable[dict[str, Any]]]
    ) -> Job:
        """Start `work(job)` in the background; 503 when `max_running` jobs are already running."""
        self._purge()
        if self.running >= self._max_running:
            raise self._busy()
        job = Job(id=uuid.uuid4().hex, description=description, total=total, owner=owner)
        self._jobs[job.id] = job
        self._publish(job)
        job.task = asyncio.create_task(self._run(job, work), name=f"job-{job.id}")
        return job

    def advance(self, job: Job, done: int) -> None:
        """Progress of a running job: samples done so far."""
        job.done = done
        if time.monotonic() - job.published >= PUBLISH_EVERY_S:
            self._publish(job)

    def get(self, job_id: str, owner: str | None) -> Job:
        """The job, for the key that created it only: to any other key it does not exist (the same 404)."""
        self._purge()
        job = self._jobs.get(job_id) or self._read_shared(job_id)
        if job is None or not hmac.compare_digest(job.owner or "", owner or ""):
            raise JobNotFound(f"unknown job '{job_id}': it never existed or its result expired")
        return job

    async def close(self) -> None:
        """Shutdown: cancel what still runs."""
        tasks = [job.task for job in self._jobs.values() if job.task is not None and not job.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, job: Job, work: Callable[[Job], Awaitable[dict[str, Any]]]) -> None:
        try:
            job.result = await work(job)
            job.status = "succeeded"
        except ServiceError as exc:
            job.status, job.error = "failed", exc.message
        except asyncio.CancelledError:
            job.status, job.error = "failed", "cancelled: the server is shutting down"
            raise
        except Exception:
            logger.exception("evaluation job %s failed", job.id)
            job.status, job.error = "failed", "internal server error"
        finally:
            job.finished = time.time()
            self._publish(job)

    def _busy(self) -> Overloaded:
        return Overloaded(
            f"{self._max_running} evaluations are already in progress (POSECAST_MAX_JOBS); retry later", retry_after_s=5
        )

    def _purge(self) -> None:
        now = time.time()
        finished = sorted(
            (job for job in self._jobs.values() if job.finished is not None), key=lambda job: job.finished or 0.0
        )
        expired = [job for job in finished if now - (job.finished or now) > self._ttl_s]
        expired += finished[len(expired) : max(len(expired), len(finished) - MAX_FINISHED)]
        for job in expired:
            del self._jobs[job.id]
            if self._shared is not None:
                (self._shared / f"{job.id}.json").unlink(missing_ok=True)

    def _publish(self, job: Job) -> None:
        """Write the job's state to the shared folder in one rename, so readers never see half a file. Best effort:
        a full disk must not fail the job, only hide its progress from the other processes."""
        if self._shared is None:
            return
        job.published = time.monotonic()
        record = {"view": job.view(), "owner": job.owner, "host": socket.gethostname(), "pid": os.getpid()}
        temporary = self._shared / f".{job.id}.{os.getpid()}.tmp"
        try:
            temporary.write_text(json.dumps(record), encoding="utf-8")
            os.replace(temporary, self._shared / f"{job.id}.json")
        except OSError as exc:
            logger.warning("job %s: could not publish its state to %s: %s", job.id, self._shared, exc)

    def _read_shared(self, job_id: str) -> Job | None:
        """A job of another process, unless its result is past the TTL (its owner deletes the file later)."""
        if self._shared is None or JOB_ID.fullmatch(job_id) is None:
            return None
        try:
            record = json.loads((self._shared / f"{job_id}.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        job = Job.from_record(record)
        if job.status == "running" and record["host"] == socket.gethostname() and not _alive(record["pid"]):
            job.status, job.error = "failed", "the server process running it stopped"
        if job.finished is not None and time.time() - job.finished > self._ttl_s:
            return None
        return job


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
