"""Peer benchmark: posecast against raw onnxruntime, a naive FastAPI endpoint and PyTriton, loaded by `hey`.

python -m benchmarks.peers [--quick] [--repository model_repository] [--clients 1,16,64] [--duration-s N]
                           [--providers CUDAExecutionProvider,CPUExecutionProvider]

One pose model, one run: raw onnxruntime in this process at batch 1, 8 and 32, then every server row at every
client count. Ratios are against raw batch 32 (throughput) and raw batch 1 (latency) from the same run. Traffic
goes to 127.0.0.1 only; every hey run stops after its duration. Needs `bash scripts/install-bench-deps.sh` once.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from benchmarks import hey, peers_report, report
from benchmarks.load import EncodedRequest, blocking_loop, decode, encode
from benchmarks.server import ROOT, ServerProcess, free_port
from benchmarks.serving import RESULTS, Runtime, _positive
from benchmarks.workloads import Workload, find_workloads, jpeg_photo
from modelcard import MODEL_FILENAME, ModelCard
from service.repository import open_version
from service.runtime import OnnxSession
from service.tasks.pose import PoseOptions, prepare

PYTRITON_PYTHON = ROOT / "benchmarks" / ".pytriton-venv" / "bin" / "python"
INSTALL = "run `bash scripts/install-bench-deps.sh`"
RAW_BATCHES = (1, 8, 32)
MAX_BATCH = 32  # posecast's and PyTriton's, and the largest raw batch
PYTRITON_DELAY_MS = 2.0  # PyTriton's batching window; posecast keeps its default (0: adaptive)
CPU = "CPUExecutionProvider"  # the default; the naive endpoint and PyTriton run on nothing else
JPEG_SIZES = ((320, 240), (1920, 1080))


@dataclass(frozen=True)
class Row:
    """One server row of the table: which server, which route, which body."""

    key: str
    label: str
    server: str  # "posecast", "naive" or "pytriton"
    path: str
    body: EncodedRequest
    v2: bool  # the answer is a V2 infer response, checked against onnxruntime's outputs
    fewest_only: bool = False  # a latency row: measured at the fewest clients only


@dataclass
class Servers:
    """The servers that are up, and why the others' rows are missing."""

    up: dict[str, ServerProcess] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    providers: list[str] = field(default_factory=list)  # posecast's, as it reports them

    def drop(self, name: str, reason: str) -> None:
        """A peer that failed: its rows are reported as skipped, with the reason and its log printed."""
        process = self.up.pop(name, None)
        print(f"{name} rows skipped: {reason}\n{process.logs() if process else ''}", file=sys.stderr)
        self.skipped[name] = reason


def rows(workload: Workload) -> list[Row]:
    binary, json_body = encode(workload.inputs, "binary"), encode(workload.inputs, "json")
    infer, pose = f"/v2/models/{workload.name}/infer", f"/v1/models/{workload.name}/pose"
    jpegs = [
        Row(
            f"v1_pose_{w}x{h}",
            f"posecast /v1 pose, {w}x{h} JPEG",
            "posecast",
            pose,
            EncodedRequest(jpeg_photo((w, h)), {"Content-Type": "image/jpeg"}),
            v2=False,
        )
        for w, h in JPEG_SIZES
    ]
    return [
        Row("v2_binary", "posecast V2 binary", "posecast", infer, binary, v2=True),
        Row(
            "v2_binary_latency",
            "posecast V2 binary, 1 process on every core",
            "posecast_latency",
            infer,
            binary,
            v2=True,
            fewest_only=True,
        ),
        Row("v2_json", "posecast V2 JSON", "posecast", infer, json_body, v2=True),
        *jpegs,
        Row("naive", "naive FastAPI, V2 binary", "naive", infer, binary, v2=True),
        Row("pytriton", "PyTriton, V2 binary", "pytriton", infer, binary, v2=True),
    ]


def launchers(
    workload: Workload, repository: Path, runtime: Runtime, workers: int, pin: bool
) -> tuple[dict[str, Callable[[Path], ServerProcess]], dict[str, str]]:
    """How to start each server (log path in, process out), and the servers that cannot start here.

    posecast twice: as configured for throughput (`workers` processes of `runtime`'s threads, each on its own
    CPUs when `pin`), and as one would configure it for the latency of a lone request (one process, onnxruntime
    on every core, as raw batch 1 runs)."""
    model, threads = str(workload.folder / MODEL_FILENAME), ["--threads", str(runtime.intra_op_threads)]
    # No access log: a log line per request costs CPU the peers do not spend (PyTriton logs nothing per request).
    posecast = runtime.server_settings(MAX_BATCH) | {
        "workers": str(workers),
        "pin_workers": str(pin).lower(),
        "access_log": "false",
    }
    latency = posecast | {"workers": "1", "intra_op_threads": str(every_core())}  # one process: nothing to pin
    starts: dict[str, Callable[[Path], ServerProcess]] = {
        "posecast": lambda log: ServerProcess.start(repository, log, posecast),
        "posecast_latency": lambda log: ServerProcess.start(repository, log, latency),
    }
    if not on_cpu_only(runtime.providers):
        # Held to raw onnxruntime on the same providers, not to peers on another device.
        reason = f"runs on {CPU} only, and this run is on {runtime.providers}"
        return starts, {"naive": reason, "pytriton": reason}
    starts["naive"] = functools.partial(_launch, [sys.executable, "-m", "benchmarks.naive", model, *threads])
    if not PYTRITON_PYTHON.exists():
        return starts, {"pytriton": f"no PyTriton environment at {PYTRITON_PYTHON.parents[1]}: {INSTALL}"}
    peer = [str(PYTRITON_PYTHON), str(ROOT / "benchmarks" / "pytriton_peer.py"), model, "--name", workload.name]
    batching = ["--max-batch-size", str(MAX_BATCH), "--queue-delay-ms", f"{PYTRITON_DELAY_MS:g}"]
    starts["pytriton"] = functools.partial(_launch, [*peer, *threads, *batching])
    return starts, {}


def on_cpu_only(providers: str) -> bool:
    """Whether a run is on the CPU alone: the peers run nowhere else, and the bound rows add up CPU time."""
    return [name.strip() for name in providers.split(",")] == [CPU]


def every_core() -> int:
    """The intra-op threads of raw onnxruntime and of the latency setup: the machine's cores."""
    return os.cpu_count() or 1


def _launch(command: list[str], log: Path) -> ServerProcess:
    port = free_port()
    return ServerProcess.launch([*command, "--port", str(port)], port, log)


@contextlib.contextmanager
def servers(
    workload: Workload, repository: Path, logs: Path, runtime: Runtime, workers: int, pin: bool
) -> Iterator[Servers]:
    """Every server started at once (start-ups overlap), each waited for; a peer that fails is skipped."""
    starts, skipped = launchers(workload, repository, runtime, workers, pin)
    running: dict[str, ServerProcess] = {}
    found = Servers(skipped=skipped)
    try:
        for name, start in starts.items():
            running[name] = found.up[name] = start(logs / f"{name}.log")
        for name, process in running.items():
            # posecast is ready when every model is; Triton is ready before PyTriton has bound the model.
            ours = name.startswith("posecast")
            path = "/v2/health/ready" if ours else f"/v2/models/{workload.name}/ready"
            try:
                providers = process.wait_ready(timeout_s=120, path=path)
            except RuntimeError as exc:
                if ours:
                    raise
                found.drop(name, f"did not start: {str(exc).splitlines()[0]}")
                continue
            if name == "posecast":
                found.providers = providers
        yield found
    finally:
        for process in running.values():
            process.stop()


def check_answers(table: list[Row], servers: Servers, expected: Mapping[str, np.ndarray]) -> None:
    """One request per row before any timing: a wrong answer would make its numbers meaningless."""
    for row in table:
        if row.server not in servers.up:
            continue
        problem = _problem(row, servers.up[row.server].url, expected)
        if problem is not None and row.server.startswith("posecast"):
            raise RuntimeError(f"{row.label}: {problem}\n{servers.up[row.server].logs()}")
        if problem is not None:
            servers.drop(row.server, f"{row.label}: {problem}")


def _problem(row: Row, url: str, expected: Mapping[str, np.ndarray]) -> str | None:
    try:
        answer = httpx.post(url + row.path, content=row.body.content, headers=row.body.headers, timeout=30)
    except httpx.TransportError as exc:
        return f"no answer ({exc!r})"
    if answer.status_code != 200:
        return f"answered {answer.status_code}: {answer.text[:300]}"
    if row.v2:
        outputs = decode(answer)
        if any(not np.allclose(outputs[name], want, rtol=1e-4, atol=1e-5) for name, want in expected.items()):
            return "outputs differ from onnxruntime's"
    return None


def raw_baseline(
    session: OnnxSession, server_session: OnnxSession, threads: tuple[int, int], workload: Workload, duration_s: float
) -> dict[str, dict[str, float]]:
    """session.run back to back in this process: at each batch size on every core (`session`, the floor every
    server row is held to), and at batch 1 on the servers' thread count (`server_session`: what serving adds to
    the very same model run). `threads`: their intra-op thread counts."""
    runs = [(str(size), session, size, threads[0]) for size in RAW_BATCHES]
    runs.append((peers_report.SERVER_LATENCY_BASE, server_session, 1, threads[1]))
    raw = {}
    for key, runner, size, count in runs:
        feeds = {name: np.repeat(array, size, axis=0) for name, array in workload.inputs.items()}  # (B, 3, H, W)
        runner.run(feeds)  # warm-up at this shape
        result = blocking_loop(functools.partial(runner.run, feeds), count=sys.maxsize, time_cap_s=duration_s)
        raw[key] = {
            "batch": size,
            "threads": count,
            "runs": len(result.latencies_s),
            "samples_per_s": round(size * result.requests_per_s, 2),
            "p50_ms": round(result.percentile_ms(50), 3),
            "p99_ms": round(result.percentile_ms(99), 3),
        }
        print(f"raw onnxruntime {key}: {raw[key]}", flush=True)
    return raw


def bracketed(before: Mapping[str, dict[str, Any]], after: Mapping[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Raw runs timed before and after the server rows, as one baseline: the mean of each number, and both
    throughputs kept to show the drift."""
    merged = {}
    for key, first in before.items():
        second = after[key]
        merged[key] = first | {
            "runs": first["runs"] + second["runs"],
            "samples_per_s": round((first["samples_per_s"] + second["samples_per_s"]) / 2, 2),
            "samples_per_s_before_after": [first["samples_per_s"], second["samples_per_s"]],
            "p50_ms": round((first["p50_ms"] + second["p50_ms"]) / 2, 3),
            "p99_ms": round((first["p99_ms"] + second["p99_ms"]) / 2, 3),
        }
    return merged


def pose_bound(card: ModelCard, raw: Mapping[str, Mapping[str, Any]], cores: int, duration_s: float) -> dict[str, Any]:
    """The most /v1 pose could serve here, from CPU time: each JPEG decoded, letterboxed and encoded as the route
    does it (`service.tasks.pose.prepare`, timed alone on one thread), plus the model's CPU time per image at raw
    batch 32 (twice with the card's flip test); `cores` of those per second. The gap between this and the row is
    what serving adds."""
    runs_per_image = 2 if card.pose_spec.flip else 1
    model_cpu_s = runs_per_image * cores / raw[peers_report.THROUGHPUT_BASE]["samples_per_s"]
    bounds = {}
    for width, height in JPEG_SIZES:
        jpeg = jpeg_photo((width, height))
        prepare_one = functools.partial(prepare, [jpeg], card, PoseOptions(), card.pose_spec.flip, width * height)
        prepare_one()  # warm-up
        started = time.thread_time()
        result = blocking_loop(prepare_one, count=sys.maxsize, time_cap_s=duration_s)
        prepare_cpu_s = (time.thread_time() - started) / len(result.latencies_s)
        key = f"pose {width}x{height}"
        bounds[key] = {
            "label": f"/v1 pose bound, {width}x{height} JPEG: {cores} cores / (prepare + model CPU per image)",
            "prepare_cpu_ms": round(prepare_cpu_s * 1000, 3),
            "model_cpu_ms": round(model_cpu_s * 1000, 3),
            "samples_per_s": round(cores / (prepare_cpu_s + model_cpu_s), 2),
            "p50_ms": round(result.percentile_ms(50), 3),  # one prepare, wall time
            "p99_ms": round(result.percentile_ms(99), 3),
        }
        print(f"{key}: {bounds[key]}", flush=True)
    return bounds


def load(
    table: list[Row], servers: Servers, clients: list[int], duration_s: float, warmup_s: float, bodies: Path
) -> dict[str, dict[str, dict[str, Any]]]:
    """hey against every row: a discarded warm-up each, then client counts outermost, so drift hits rows alike."""
    requests = {}
    for row in (row for row in table if row.server in servers.up):
        body = bodies / f"{row.key}.body"
        body.write_bytes(row.body.content)
        headers = {name: value for name, value in row.body.headers.items() if name != "Content-Type"}
        url = servers.up[row.server].url + row.path
        requests[row.key] = hey.Request(url, body, row.body.headers["Content-Type"], headers)
    for request in requests.values():
        hey.run(request, max(clients), warmup_s)
    cells: dict[str, dict[str, dict[str, Any]]] = {key: {} for key in requests}
    fewest_only = {row.key for row in table if row.fewest_only}
    for count in clients:
        for key, request in requests.items():
            if key in fewest_only and count != clients[0]:
                continue
            cells[key][str(count)] = hey.run(request, count, duration_s).summary()
            summary = cells[key][str(count)]
            print(
                f"{key:>18} {count:>3} clients: {summary['requests_per_s']:>9.1f} req/s, "
                f"p50 {summary['p50_ms']:.1f} ms, p99 {summary['p99_ms']:.1f} ms, errors {summary['errors']}",
                flush=True,
            )
    return cells


def run(
    repository: Path,
    clients: list[int],
    duration_s: float,
    warmup_s: float,
    threads: int,
    workers: int,
    pin: bool,
    providers: str = CPU,
) -> dict[str, Any]:
    """Start the servers, check their answers, measure raw onnxruntime and every row; ratios included.

    The servers run `threads` intra-op threads each (posecast in `workers` processes, pinned to their own CPUs
    when `pin`); raw onnxruntime runs on every core, the most the runtime alone gets out of this machine. posecast
    and raw onnxruntime run on `providers`; on any but the CPU's, the peers and the CPU-time bound are left out."""
    runtime = Runtime(providers=providers, intra_op_threads=threads)
    raw_threads = every_core()
    if shutil.which("hey") is None:
        raise SystemExit(f"hey is not on PATH: {INSTALL}")
    workload = find_workloads(repository, ("pose",))[0]
    table = rows(workload)
    started, timestamp = report.load_average(), report.timestamp()
    raw_runtime = replace(runtime, intra_op_threads=raw_threads)
    card, session = open_version(workload.folder, workload.name, workload.version, raw_runtime.settings(repository))
    _, server_session = open_version(workload.folder, workload.name, workload.version, runtime.settings(repository))
    with (
        tempfile.TemporaryDirectory(prefix="posecast-peers-") as scratch,
        servers(workload, repository, Path(scratch), runtime, workers, pin) as found,
    ):
        check_answers(table, found, session.run(workload.inputs))
        thread_counts = (raw_threads, runtime.intra_op_threads)
        raw_before = raw_baseline(session, server_session, thread_counts, workload, duration_s)
        cells = load(table, found, clients, duration_s, warmup_s, Path(scratch))
    # Again once the servers are gone: the machine's speed drifts over minutes (a shared host, clocks), and the
    # rows in between are held to the mean of both.
    raw = bracketed(raw_before, raw_baseline(session, server_session, thread_counts, workload, duration_s))
    if on_cpu_only(providers):
        raw |= pose_bound(card, raw, raw_threads, duration_s)
    results: dict[str, Any] = {
        "timestamp": timestamp,
        "machine": report.machine(server_providers=found.providers, load_before=started),
        "model": report.describe(workload),
        "repository": str(repository),
        "plan": {
            "clients": clients,
            "duration_s": duration_s,
            "warmup_s": warmup_s,
            "max_batch_size": MAX_BATCH,
            "pytriton_queue_delay_ms": PYTRITON_DELAY_MS,
            "intra_op_threads": runtime.intra_op_threads,
            "inter_op_threads": runtime.inter_op_threads,
            "posecast_workers": workers,
            "posecast_pin_workers": pin,
            "raw_intra_op_threads": raw_threads,
            "providers": providers,
        },
        "raw": raw,
        "rows": [
            {"key": row.key, "label": row.label, "server": row.server, "cells": cells.get(row.key, {})}
            | ({"skipped": found.skipped[row.server]} if row.server in found.skipped else {})
            for row in table
        ],
    }
    peers_report.add_ratios(results)
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.peers",
        description=__doc__.split("\n\n")[0],
        epilog="Install first: bash scripts/install-bench-deps.sh. Rows: benchmarks/README.md.",
    )
    parser.add_argument("--quick", action="store_true", help="2 s per measurement instead of 10 (a smoke run)")
    parser.add_argument(
        "--repository", type=Path, default=ROOT / "model_repository", help="its first pose model is served"
    )
    parser.add_argument("--clients", type=_counts, default=[1, 16, 64], help="comma list of client counts")
    parser.add_argument(
        "--duration-s", type=_positive(float), help="seconds per measurement (each row and client count, raw batch)"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="folder for the .json, .md and .png")
    parser.add_argument("--threads", type=_positive(int), default=1, help="intra-op threads of every server")
    parser.add_argument("--workers", type=_positive(int), default=1, help="posecast server processes")
    parser.add_argument(
        "--pin-workers", action="store_true", help="each posecast process on its own CPUs (POSECAST_PIN_WORKERS)"
    )
    parser.add_argument(
        "--providers",
        default=CPU,
        help="onnxruntime providers of posecast and raw onnxruntime, as POSECAST_PROVIDERS takes them (e.g. "
        "CUDAExecutionProvider,CPUExecutionProvider); off the CPU, the naive endpoint and PyTriton are skipped",
    )
    return parser.parse_args(argv)


def _counts(text: str) -> list[int]:
    """`1,16,64` -> [1, 16, 64]; sorted, so the targets find the fewest and the most clients at the ends."""
    counts = sorted({int(part) for part in text.split(",")})
    if counts[0] < 1:
        raise argparse.ArgumentTypeError(f"client counts must be positive, got {text}")
    return counts


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    duration_s = args.duration_s or (2.0 if args.quick else 10.0)
    warmup_s = min(duration_s, 2.0)
    results = run(
        args.repository.resolve(),
        args.clients,
        duration_s,
        warmup_s,
        args.threads,
        args.workers,
        args.pin_workers,
        args.providers,
    )
    paths = peers_report.write(results, args.output)
    print(paths[0].read_text(encoding="utf-8"))
    print("results: " + ", ".join(str(path) for path in paths))


if __name__ == "__main__":
    main()
