"""POSECAST_WORKERS=2 over a real supervisor: both workers serve one port, /metrics and a job answer for both
from either, a killed worker is replaced on its socket while requests keep being answered, SIGTERM drains and
stops them all; connections spread over the workers, and pinned workers stay on their CPUs."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from service.settings import Settings
from service.workers import SPREAD_BY_KERNEL, cpu_share, listeners, on_cpus
from tests.service.conftest import ADMIN_TOKEN, Server, start_server
from tests.service.test_v1_evaluate import sequences_npz

PNG_BODY_SIZE = (60, 40)


def workers_of(supervisor: int) -> list[int]:
    """The supervisor's spawned workers (not multiprocessing's resource tracker), by /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        if parent == supervisor and b"spawn_main" in command:
            found.append(int(entry.name))
    return sorted(found)


def ready_workers(server: Server, count: int = 2) -> list[int]:
    """The workers of a ready server, once all `count` have been spawned and have started serving."""
    server.wait_ready()  # one worker answering is enough for this
    deadline = time.monotonic() + 60
    while len(workers_of(server.process.pid)) != count and time.monotonic() < deadline:
        time.sleep(0.2)
    workers = workers_of(server.process.pid)
    assert len(workers) == count
    wait_started(server, workers)
    return workers


def wait_started(server: Server, pids: list[int]) -> None:
    """Until each of `pids` has logged its start and every started worker its application startup: a worker is
    spawned (and counted by `workers_of`) well before it pins itself and serves."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        log = server.log.read_text()
        started = all(f"Started server process [{pid}]" in log for pid in pids)
        if started and log.count("Application startup complete.") >= log.count("Started server process"):
            return
        time.sleep(0.2)
    raise AssertionError(f"workers {pids} did not start:\n{server.log.read_text()}")


def kill_and_replace(server: Server, victim: int) -> list[int]:
    """SIGKILL one worker; the workers once the supervisor's replacement for it has started serving."""
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while (len(workers_of(server.process.pid)) != 2 or victim in workers_of(server.process.pid)) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.2)
    workers = workers_of(server.process.pid)
    assert len(workers) == 2
    assert victim not in workers
    wait_started(server, workers)
    return workers


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric_value(url: str, series: str) -> float:
    """One series of /metrics, scraped on a fresh connection (so either worker may answer)."""
    text = httpx.get(f"{url}/metrics").text
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{series} not in /metrics:\n{text}")


def forecast(url: str) -> int:
    """One request on a fresh connection, which either worker may accept."""
    body = {"sequence": [[[1.0, 2.0]] * 17] * 6, "horizon": 2}
    return httpx.post(f"{url}/v1/models/keypoints/forecast", json=body, timeout=30).status_code


def test_workers_share_the_port_restart_and_drain(task_repository: Path, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    server = start_server(
        task_repository, tmp_path / "workers.log", workers="2", jobs_dir=str(jobs), eval_sync_max_samples="4"
    )
    try:
        first = ready_workers(server)
        before = {pid: cpu_seconds(pid) for pid in first}
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(forecast, [server.url] * 200)) == {200}
        used = {pid: cpu_seconds(pid) - before[pid] for pid in first}
        assert all(seconds > 0.05 for seconds in used.values()), used  # both took a share of the traffic
        # /metrics counts every worker's requests, whichever worker answers the scrape.
        for _ in range(6):
            assert (
                metric_value(server.url, 'posecast_requests_total{model="keypoints",outcome="success",version="1"}')
                == 200
            )
            assert metric_value(server.url, 'posecast_model_ready{model="keypoints",version="1"}') == 1

        # A job runs in one worker; every status request, whichever worker takes it, answers it.
        data, _, _ = sequences_npz(30, 3)
        accepted = httpx.post(f"{server.url}/v1/models/keypoints/evaluate", files={"dataset": ("s.npz", data)})
        assert accepted.status_code == 202, accepted.text
        status_url = server.url + accepted.json()["status_url"]
        for _ in range(200):
            view = httpx.get(status_url).json()  # a fresh connection each time
            assert view["job_id"] == accepted.json()["job_id"], view
            if view["status"] != "running":
                break
            time.sleep(0.05)
        assert view["status"] == "succeeded", view
        assert [path.name for path in jobs.iterdir()] == [f"{view['job_id']}.json"]

        # Load and unload would change one worker only: refused, naming why.
        admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        refused = httpx.post(f"{server.url}/v2/repository/models/keypoints/load", headers=admin)
        assert refused.status_code == 400
        assert "POSECAST_WORKERS" in refused.json()["error"]

        # A worker that dies is replaced on its socket; requests are answered throughout (one that reaches the dead
        # worker's socket waits there for the replacement).
        replaced = kill_and_replace(server, first[0])
        assert forecast(server.url) == 200
        assert "worker 0" in server.logs() or "worker 1" in server.logs()

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0
        assert workers_of(server.process.pid) == []
        assert all(not Path(f"/proc/{pid}").exists() for pid in replaced)
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("cpus", "workers", "shares"),
    [
        ([0, 1], 2, [[0], [1]]),
        ([0, 1, 2, 3], 2, [[0, 1], [2, 3]]),
        ([0, 1, 2], 2, [[0], [1, 2]]),
        ([9, 2, 5, 7], 2, [[2, 5], [7, 9]]),  # the CPUs a container may use, in any order
        ([0, 1], 3, [[0], [1], [0]]),
        ([4], 2, [[4], [4]]),
    ],
)
def test_cpu_shares_are_disjoint_runs_until_workers_outnumber_cpus(
    cpus: list[int], workers: int, shares: list[list[int]]
) -> None:
    assert [cpu_share(cpus, index, workers) for index in range(workers)] == shares


def test_a_pinned_worker_runs_as_many_intra_op_threads_as_it_has_cpus_unless_told() -> None:
    assert on_cpus(Settings(intra_op_threads=0), [2, 3]).intra_op_threads == 2
    assert on_cpus(Settings(intra_op_threads=4), [2, 3]).intra_op_threads == 4


def thread_affinities(pid: int) -> set[frozenset[int]]:
    """The CPU sets every thread of `pid` may run on."""
    return {frozenset(os.sched_getaffinity(int(task.name))) for task in Path(f"/proc/{pid}/task").iterdir()}


def test_pinned_workers_run_every_thread_on_their_own_cpus_and_a_replacement_takes_the_same(
    task_repository: Path, tmp_path: Path
) -> None:
    allowed = sorted(os.sched_getaffinity(0))
    shares = {frozenset(cpu_share(allowed, index, 2)) for index in range(2)}
    server = start_server(task_repository, tmp_path / "pinned.log", workers="2", pin_workers="true")
    try:
        first = ready_workers(server)
        with ThreadPoolExecutor(8) as pool:  # sessions, decoding and executor threads have all started
            assert set(pool.map(forecast, [server.url] * 50)) == {200}
        pinned = {pid: thread_affinities(pid) for pid in first}
        assert all(len(sets) == 1 for sets in pinned.values()), pinned  # threads inherit the worker's CPUs
        assert {next(iter(sets)) for sets in pinned.values()} == shares
        assert os.sched_getaffinity(server.process.pid) == set(allowed)  # the supervisor is not pinned
        assert "worker 0 runs on CPUs" in server.log.read_text()

        (replacement,) = set(kill_and_replace(server, first[0])) - set(first)
        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(forecast, [server.url] * 50)) == {200}
        assert thread_affinities(replacement) == pinned[first[0]]
    finally:
        server.stop()


def established(pids: list[int], port: int) -> Counter[int]:
    """Established connections to `port` that each of `pids` holds, from /proc (socket inodes of its fds)."""
    owner = {}
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            link = os.readlink(fd)
            if link.startswith("socket:["):
                owner[link[len("socket:[") : -1]] = pid
    counts: Counter[int] = Counter()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port, state, inode = int(fields[1].rsplit(":", 1)[1], 16), fields[3], fields[9]
            if local_port == port and state == "01" and inode in owner:  # 01: TCP_ESTABLISHED
                counts[owner[inode]] += 1
    return counts


@pytest.mark.skipif(not SPREAD_BY_KERNEL, reason="the kernel spreads connections over SO_REUSEPORT sockets on Linux")
def test_a_burst_of_keep_alive_connections_is_spread_over_the_workers(task_repository: Path, tmp_path: Path) -> None:
    """Workers sharing one socket race for a burst, and one that is busy at that moment gets none of it (nor, on
    keep-alive, any later request of those clients); hey's 16 connections once split 15 to 1. With a socket per
    worker on one port the kernel hashes each connection to one of them, busy or not. Here one worker is stopped
    while the burst connects."""
    server = start_server(task_repository, tmp_path / "spread.log", workers="2")
    try:
        workers = ready_workers(server)
        host, port = server.url.removeprefix("http://").rsplit(":", 1)
        clients = [http.client.HTTPConnection(host, int(port), timeout=30) for _ in range(64)]
        try:
            os.kill(workers[0], signal.SIGSTOP)
            try:
                for client in clients:  # the kernel completes each handshake; the connection waits to be accepted
                    client.connect()
                    client.request("GET", "/v2/health/live")
                time.sleep(1.0)  # the running worker takes what it can
            finally:
                os.kill(workers[0], signal.SIGCONT)
            assert {client.getresponse().status for client in clients} == {200}
            counts = established(workers, int(port))
        finally:
            for client in clients:
                client.close()
        assert sum(counts.values()) == 64
        # A quarter each: binomial(64, 1/2) falls below it once in 30,000 runs.
        assert all(counts[pid] >= 16 for pid in workers), counts
    finally:
        server.stop()


@pytest.mark.skipif(not SPREAD_BY_KERNEL, reason="SO_REUSEPORT groups: Linux")
def test_the_workers_port_must_be_free_even_of_other_reuse_port_listeners() -> None:
    """Sockets that all set SO_REUSEPORT may share a port, so a second server started on it by mistake would
    silently take a share of the first one's connections: the port is bound alone first."""
    other = socket.create_server(("127.0.0.1", 0), reuse_port=True)
    try:
        with pytest.raises(OSError, match="in use"):
            listeners("127.0.0.1", other.getsockname()[1], 2)
    finally:
        other.close()
    mine = listeners("127.0.0.1", 0, 2)
    try:
        assert len({sock.fileno() for sock in mine}) == 2
        assert len({sock.getsockname()[1] for sock in mine}) == 1
    finally:
        for sock in mine:
            sock.close()
