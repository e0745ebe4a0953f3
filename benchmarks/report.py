"""The machine a run measured, its markdown tables, and its JSON file under benchmarks/results/."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

import onnxruntime as ort

from benchmarks.workloads import Workload

VARIANTS = {
    "direct": "in-process session.run (floor)",
    "http_floor": "server GET /v2/health/live (HTTP floor)",
    "json": "server max_batch_size=1, JSON tensors",
    "binary": "server max_batch_size=1, binary tensors",
    "binary_batched": "server with batching, binary tensors",
    "batched": "server with batching, binary tensors",
    "unbatched": "server max_batch_size=1, binary tensors",
}
RATIOS = {
    "binary_over_json_throughput": ("binary / JSON requests/s", ">1: binary serves more"),
    "binary_over_json_p50": ("binary / JSON p50 latency", "<1: binary answers sooner"),
    "server_over_direct_p50": ("server / in-process p50 (max_batch_size=1)", "server overhead factor"),
    "server_over_http_floor_p50": ("server infer / empty GET p50", "infer path over bare HTTP round trip"),
    "batching_server_over_direct_p50": ("server / in-process p50 (batching on)", "overhead incl. batching window"),
    "batched_over_unbatched_throughput": ("batched / unbatched requests/s", ">1: dynamic batching pays"),
}


def load_average() -> list[float]:
    """1, 5 and 15 minute load: on a shared machine, the context every number needs."""
    return [round(value, 2) for value in os.getloadavg()]


def machine(server_providers: list[str], load_before: list[float]) -> dict[str, Any]:
    return {
        "gpus": gpus(),
        "cpu_count": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "available_providers": ort.get_available_providers(),
        "server_providers": server_providers,
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }


def gpus() -> list[str]:
    """The NVIDIA cards here, as `nvidia-smi` names them with their driver: a GPU row means little without the
    card it ran on. Empty where there is no `nvidia-smi` or it fails."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return []
    query = [tool, "--query-gpu=name,driver_version", "--format=csv,noheader"]
    try:
        listing = subprocess.run(query, capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    cards = (line.rpartition(",") for line in listing.splitlines() if line.strip())
    return [f"{name.strip()} (driver {driver.strip()})" for name, _, driver in cards]


def gpu_text(box: dict[str, Any]) -> str:
    """`, GPU: ...` for a machine record that lists cards, else nothing."""
    cards = box.get("gpus") or []
    return f", GPU: {'; '.join(cards)}" if cards else ""


def describe(workload: Workload) -> dict[str, Any]:
    shapes = {name: list(array.shape) for name, array in workload.inputs.items()}
    return {"name": workload.name, "version": workload.version, "task": workload.task, "inputs": shapes}


def markdown(results: dict[str, Any]) -> str:
    """A header about the machine, the raw measurements, then the ratios that are the actual result."""
    return "\n".join([*_header(results), "", *_measurements(results), "", *_ratios(results)])


def _header(results: dict[str, Any]) -> list[str]:
    box, plan, runtime = results["machine"], results["plan"], results["runtime"]
    models = ", ".join(f"{m['name']} ({m['task']}, inputs {m['inputs']})" for m in results["models"])
    return [
        f"## posecast serving benchmark, {results['timestamp']}",
        "",
        f"- machine: {box['usable_cpus']} of {box['cpu_count']} CPUs{gpu_text(box)}, {box['platform']}, "
        f"Python {box['python']}",
        f"- onnxruntime {box['onnxruntime']}: servers on {', '.join(box['server_providers'])}, in-process on "
        f"{', '.join(sorted(set(results['direct_providers'].values())))}; intra-op threads "
        f"{runtime['intra_op_threads']}, inter-op threads {runtime['inter_op_threads']}",
        f"- load average before {box['load_average_before']}, after {box['load_average_after']}",
        f"- models ({results['repository']}): {models}",
        f"- plan: {plan['requests']} requests per latency variant, {plan['load_requests']} per server under "
        f"{plan['concurrency']} clients, {plan['rounds']} alternating rounds, {plan['time_cap_s']:g} s cap per variant",
        f"- batching on: max_batch_size {plan['concurrency']} with the server's default queue delay; "
        "off: max_batch_size 1",
    ]


def _measurements(results: dict[str, Any]) -> list[str]:
    lines = [
        "| model | variant | clients | requests | errors | req/s | p50 ms | p95 ms | mean batch |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for entry in [*results["latency"], *results["batching"]]:
        for name, row in entry["variants"].items():
            batch = _number(row["mean_batch_size"]) if "mean_batch_size" in row else ""
            lines.append(
                f"| {entry['model']} | {VARIANTS[name]} | {row['concurrency']} | {row['requests']} | {row['errors']} "
                f"| {row['requests_per_s']:.1f} | {row['p50_ms']:.2f} | {row['p95_ms']:.2f} | {batch} |"
            )
    return lines


def _ratios(results: dict[str, Any]) -> list[str]:
    lines = ["| model | ratio | value | reads as |", "|---|---|--:|---|"]
    for entry in [*results["latency"], *results["batching"]]:
        for key, value in entry["ratios"].items():
            label, reading = RATIOS[key]
            lines.append(f"| {entry['model']} | {label} | {_number(value)} | {reading} |")
    return lines


def _number(value: float) -> str:
    return f"{value:.2f}" if math.isfinite(value) else "n/a"


def write(results: dict[str, Any], folder: Path, prefix: str = "") -> Path:
    """`<folder>/<prefix><UTC timestamp>.json`; the folder is git-ignored."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{prefix}{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return path


def timestamp() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
