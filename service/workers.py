"""POSECAST_WORKERS > 1: several server processes behind one port, sharing nothing but the port.

When Python is the bottleneck (one event loop per process, the GIL), more processes feed the runtime better;
each loads its own sessions. The supervisor opens the listening sockets (`listeners`), starts the workers
(spawned: no state inherited but a socket and the environment), forwards SIGTERM/SIGINT so every worker drains,
and restarts a worker that dies on the socket it had, so the connections waiting there are served too. Workers
share a folder for evaluation jobs, so any of them answers a job's status, and one for metric samples, so any of
them answers /metrics for all (service/metrics.py).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from multiprocessing.context import SpawnProcess
from pathlib import Path
from types import FrameType

from prometheus_client.multiprocess import mark_process_dead

from service.settings import Settings

logger = logging.getLogger("service")
METRICS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own; read when a worker imports it
RESTARTS_PER_MINUTE = 5  # more crashes than this and the supervisor stops: something is wrong with every worker
POLL_S = 0.5
BACKLOG = 2048
# Linux spreads the connections to one port over the sockets listening on it with SO_REUSEPORT, by a hash of each
# connection's addresses. Workers sharing one socket race for each burst instead, and one often takes nearly all:
# 15 of 16 hey connections (measured), which on keep-alive stay there.
SPREAD_BY_KERNEL = sys.platform == "linux"


class Supervisor:
    """Starts, watches and stops the workers; `run` returns the exit status."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._context = multiprocessing.get_context("spawn")
        self._stopping = False
        self._restarts: list[float] = []
        self._shares = cpu_shares(settings.workers) if settings.pin_workers else None

    def run(self) -> int:
        settings = self._settings
        sockets = listeners(settings.host, settings.port, settings.workers)
        jobs = settings.jobs_dir or Path(tempfile.mkdtemp(prefix="posecast-jobs-"))
        os.environ["POSECAST_JOBS_DIR"] = str(jobs)  # the workers' Settings() read it
        samples = Path(tempfile.mkdtemp(prefix="posecast-metrics-"))
        os.environ[METRICS_DIR_VARIABLE] = str(samples)  # prometheus_client in each worker writes its samples there
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        workers = [self._start(sockets[index], index) for index in range(settings.workers)]
        logger.info("%d workers serving on %s:%d", len(workers), settings.host, sockets[0].getsockname()[1])
        for index, share in enumerate(self._shares or []):
            logger.info("worker %d runs on CPUs %s", index, ",".join(map(str, share)))
        status = 0
        try:
            while not self._stopping:
                time.sleep(POLL_S)
                for index, worker in enumerate(workers):
                    if worker.is_alive() or self._stopping:
                        continue
                    logger.error("worker %d (pid %s) exited with %s", index, worker.pid, worker.exitcode)
                    mark_process_dead(worker.pid, str(samples))  # its gauges leave the sums; its counters stay
                    if not self._may_restart():
                        logger.error("workers keep dying: %d restarts within a minute; stopping", RESTARTS_PER_MINUTE)
                        self._stopping, status = True, 1
                        break
                    workers[index] = self._start(sockets[index], index)
        finally:
            for worker in workers:
                if worker.is_alive() and worker.pid is not None:
                    os.kill(worker.pid, signal.SIGTERM)
            deadline = time.monotonic() + settings.grace_period_s + 5
            for worker in workers:
                worker.join(max(0.0, deadline - time.monotonic()))
                if worker.is_alive():
                    worker.kill()
            for listener in sockets:
                listener.close()
            if settings.jobs_dir is None:
                shutil.rmtree(jobs, ignore_errors=True)
            shutil.rmtree(samples, ignore_errors=True)
        return status

    def _start(self, listener: socket.socket, index: int) -> SpawnProcess:
        """Worker `index`, on its share of the CPUs when pinning (a restarted worker takes the same share)."""
        share = None if self._shares is None else self._shares[index]
        worker = self._context.Process(target=serve_worker, args=(listener, share), name=f"posecast-worker-{index}")
        worker.start()
        return worker

    def _may_restart(self) -> bool:
        now = time.monotonic()
        self._restarts = [at for at in self._restarts if now - at < 60] + [now]
        return len(self._restarts) <= RESTARTS_PER_MINUTE

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        self._stopping = True


def listeners(host: str, port: int, workers: int) -> list[socket.socket]:
    """A listening socket per worker on one port (Linux: SO_REUSEPORT, the kernel spreads connections), else one
    socket all share. The port is first bound alone, so a server already on it is an error, not a silent partner
    that takes a share of the connections (as another SO_REUSEPORT group member would)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    alone = socket.create_server((host, port), family=family, backlog=BACKLOG)
    if not SPREAD_BY_KERNEL:
        return [alone] * workers
    port = alone.getsockname()[1]  # port 0 asked for any free one
    alone.close()
    return [socket.create_server((host, port), family=family, backlog=BACKLOG, reuse_port=True) for _ in range(workers)]


def cpu_shares(workers: int) -> list[list[int]] | None:
    """Each worker's CPUs (`cpu_share` of those this process may use), or None where affinity is not settable."""
    if not hasattr(os, "sched_setaffinity"):
        logger.warning("POSECAST_PIN_WORKERS: this platform cannot set CPU affinity; the workers are not pinned")
        return None
    allowed = sorted(os.sched_getaffinity(0))
    return [cpu_share(allowed, index, workers) for index in range(workers)]


def cpu_share(cpus: Sequence[int], index: int, workers: int) -> list[int]:
    """Worker `index`'s part of `cpus`: contiguous runs as even as possible, none shared; with more workers than
    CPUs, worker i takes CPU i mod n (workers then share cores, each staying on one)."""
    ordered = sorted(cpus)
    if workers >= len(ordered):
        return [ordered[index % len(ordered)]]
    return ordered[index * len(ordered) // workers : (index + 1) * len(ordered) // workers]


def on_cpus(settings: Settings, cpus: Sequence[int]) -> Settings:
    """A pinned worker's settings: onnxruntime's default intra-op threads count the machine's cores, not the
    share, so an unset count becomes the share's size."""
    if settings.intra_op_threads:
        return settings
    return settings.model_copy(update={"intra_op_threads": len(cpus)})


def serve_worker(listener: socket.socket, cpus: list[int] | None) -> None:
    """A worker: its own process group (a terminal's Ctrl-C reaches the supervisor, which forwards it once), its
    own settings from the environment, its listening socket; it drains and exits if the supervisor dies. Pinned to
    `cpus` before its first thread starts, since threads take their creator's affinity."""
    os.setpgrp()
    settings = Settings()
    if cpus is not None:
        os.sched_setaffinity(0, cpus)
        settings = on_cpus(settings, cpus)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True, name="orphan-watch").start()
    from service.__main__ import serve

    serve(settings, sockets=[listener])


def _exit_with_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)
