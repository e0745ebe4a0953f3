"""What a peer benchmark run means: its ratios, the issue's targets, the markdown table and the files it writes."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import plot, report
from benchmarks.serving import ratio

THROUGHPUT_BASE, LATENCY_BASE = "32", "1"  # raw onnxruntime batch sizes the rows are held to
SERVER_LATENCY_BASE = "1, server threads"  # raw batch 1 on the servers' intra-op threads, not every core


def cell_ratios(cell: dict[str, Any], raw: dict[str, dict[str, float]]) -> dict[str, float]:
    """Served requests/s over raw batch-32 samples/s, and what serving adds to raw batch-1 latency."""
    return {
        "over_raw_throughput": round(ratio(cell["requests_per_s"], raw[THROUGHPUT_BASE]["samples_per_s"]), 4),
        "p50_minus_raw_ms": round(cell["p50_ms"] - raw[LATENCY_BASE]["p50_ms"], 3),
    }


def add_ratios(results: dict[str, Any]) -> None:
    """Every measured cell gets its ratios; the run gets its targets."""
    for row in results["rows"]:
        for cell in row["cells"].values():
            cell.update(cell_ratios(cell, results["raw"]))
    results["targets"] = [target.evaluate(results) for target in TARGETS]


def _value(results: dict[str, Any], key: str, clients: str, name: str) -> float:
    """One number of one cell; NaN for a row or client count the run did not measure."""
    row = next((row for row in results["rows"] if row["key"] == key), None)
    cell = None if row is None else row["cells"].get(clients)
    return math.nan if cell is None else float(cell[name])


@dataclass(frozen=True)
class Target:
    """One goal of the serving issue, as a number from one run and the bound it must meet."""

    text: str  # `{most}` and `{fewest}` become the largest and smallest client counts of the run
    measure: Callable[[dict[str, Any], str, str], float]  # (results, most clients, fewest clients) -> value
    bound: float
    at_most: bool = False  # True: value <= bound; False: value >= bound

    def evaluate(self, results: dict[str, Any]) -> dict[str, Any]:
        counts = [str(count) for count in results["plan"]["clients"]]
        value = self.measure(results, counts[-1], counts[0])
        met = (value <= self.bound if self.at_most else value >= self.bound) if math.isfinite(value) else None
        text = self.text.format(most=counts[-1], fewest=counts[0])
        return {"target": text, "value": value, "bound": self.bound, "at_most": self.at_most, "met": met}


def _throughput(key: str) -> Callable[[dict[str, Any], str, str], float]:
    return lambda results, most, _: _value(results, key, most, "over_raw_throughput")


def _versus(key: str) -> Callable[[dict[str, Any], str, str], float]:
    return lambda results, most, _: ratio(
        _value(results, "v2_binary", most, "requests_per_s"), _value(results, key, most, "requests_per_s")
    )


TARGETS = [
    Target("V2 binary req/s at {most} clients / raw batch 32 samples/s", _throughput("v2_binary"), 0.7),
    Target("V2 binary / naive FastAPI req/s at {most} clients", _versus("naive"), 1.5),
    Target("V2 binary / PyTriton req/s at {most} clients", _versus("pytriton"), 1.5),
    Target(
        "V2 binary p50 at {fewest} client(s), 1 process on every core - raw batch 1 p50 on every core (ms)",
        lambda results, _, fewest: _value(results, "v2_binary_latency", fewest, "p50_minus_raw_ms"),
        1.0,
        at_most=True,
    ),
    Target(
        "V2 binary p50 at {fewest} client(s) - raw batch 1 p50 on the servers' threads (ms)",
        lambda results, _, fewest: (
            _value(results, "v2_binary", fewest, "p50_ms")
            - results["raw"].get(SERVER_LATENCY_BASE, {}).get("p50_ms", math.nan)
        ),
        1.0,
        at_most=True,
    ),
    Target("/v1 pose 320x240 JPEG req/s at {most} clients / raw batch 32", _throughput("v1_pose_320x240"), 0.5),
    Target("/v1 pose 1920x1080 JPEG req/s at {most} clients / raw batch 32", _throughput("v1_pose_1920x1080"), 0.3),
]


def markdown(results: dict[str, Any]) -> str:
    return "\n".join([*_header(results), "", *_table(results), "", *_targets(results)])


def _header(results: dict[str, Any]) -> list[str]:
    box, plan, model = results["machine"], results["plan"], results["model"]
    lines = [
        f"## posecast peer benchmark, {results['timestamp']}",
        "",
        f"- machine: {box['usable_cpus']} of {box['cpu_count']} CPUs{report.gpu_text(box)}, {box['platform']}, "
        f"Python {box['python']}, "
        f"onnxruntime {box['onnxruntime']} on {', '.join(box['server_providers']) or 'CPUExecutionProvider'}",
        f"- load average before {box['load_average_before']}, after {box['load_average_after']}",
        f"- model: {model['name']} v{model['version']} from {results['repository']}, inputs {model['inputs']}",
        f"- {plan['duration_s']:g} s per measurement (hey -z), {plan['warmup_s']:g} s warm-up per row; "
        f"max batch {plan['max_batch_size']} (posecast: adaptive queue delay 0, PyTriton: "
        f"{plan['pytriton_queue_delay_ms']:g} ms); servers: onnxruntime {plan['intra_op_threads']} intra-op / "
        f"{plan['inter_op_threads']} inter-op thread, posecast in {plan['posecast_workers']} process(es)"
        f"{' each on its own CPUs' if plan['posecast_pin_workers'] else ''}; raw "
        f"onnxruntime: {plan['raw_intra_op_threads']} intra-op threads",
    ]
    drift = results["raw"][THROUGHPUT_BASE].get("samples_per_s_before_after")
    if drift is not None:
        lines.append(
            f"- raw batch {THROUGHPUT_BASE}: {drift[0]:.1f} samples/s before the server rows, {drift[1]:.1f} after; "
            "every raw row below is the mean of its two runs"
        )
    skipped = [f"- **{row['label']} skipped**: {row['skipped']}" for row in results["rows"] if "skipped" in row]
    return lines + skipped


def _table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| row | clients | req/s | p50 ms | p99 ms | errors | / raw b32 req/s | p50 - raw b1 ms |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    base = results["raw"][THROUGHPUT_BASE]["samples_per_s"]
    for raw in results["raw"].values():
        threads = f", {raw['threads']} thread{'s' if raw['threads'] > 1 else ''}" if "threads" in raw else ""
        label = raw["label"] if "label" in raw else f"raw onnxruntime, batch {raw['batch']}{threads} (samples/s)"
        lines.append(
            f"| {label} | in-process | {raw['samples_per_s']:.1f} "
            f"| {raw['p50_ms']:.2f} | {raw['p99_ms']:.2f} | 0 | {_number(ratio(raw['samples_per_s'], base))} | |"
        )
    for row in results["rows"]:
        if "skipped" in row:
            lines.append(f"| {row['label']} | skipped | | | | | | |")
        for clients, cell in row["cells"].items():
            lines.append(
                f"| {row['label']} | {clients} | {cell['requests_per_s']:.1f} | {_number(cell['p50_ms'], 1)} "
                f"| {_number(cell['p99_ms'], 1)} | {cell['errors']} | {_number(cell['over_raw_throughput'])} "
                f"| {_number(cell['p50_minus_raw_ms'], signed=True)} |"
            )
    return lines


def _targets(results: dict[str, Any]) -> list[str]:
    lines = ["| target | value | bound | met |", "|---|--:|--:|---|"]
    for target in results["targets"]:
        bound = f"{'<=' if target['at_most'] else '>='} {target['bound']:g}"
        met = {True: "yes", False: "no", None: "n/a"}[target["met"]]
        lines.append(f"| {target['target']} | {_number(target['value'])} | {bound} | {met} |")
    return lines


def _number(value: float, digits: int = 2, signed: bool = False) -> str:
    """n/a for NaN: hey prints no p99 for a run of fewer than 100 answers, none at all for no answers."""
    return f"{value:{'+' if signed else ''}.{digits}f}" if math.isfinite(value) else "n/a"


def write(results: dict[str, Any], folder: Path) -> list[Path]:
    """`peers-<UTC>.md`, `.json` and `.png` side by side in `folder` (git-ignored); the markdown first."""
    data = report.write(results, folder, prefix="peers-")
    table = data.with_suffix(".md")
    table.write_text(markdown(results) + "\n", encoding="utf-8")
    return [table, data, plot.write_png(results, data.with_suffix(".png"))]
