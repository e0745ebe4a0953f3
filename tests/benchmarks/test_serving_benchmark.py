"""Smoke test of the serving benchmark: its measuring code against real servers, with a handful of requests.

It checks the shape of the results and that every ratio is a positive finite number, never a speed: speed is
what the benchmark itself reports.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks import report, serving
from benchmarks.workloads import build_tiny_repository

PLAN = serving.Plan(requests=6, load_requests=24, concurrency=4, time_cap_s=5.0, rounds=2, warmup=2)
LATENCY_VARIANTS = {"direct", "http_floor", "json", "binary", "binary_batched"}
SUMMARY_KEYS = {"requests", "errors", "concurrency", "wall_s", "requests_per_s", "p50_ms", "p95_ms"}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    repository = build_tiny_repository(tmp_path_factory.mktemp("repository"))
    measured = serving.run(repository, PLAN, serving.Runtime(providers="CPUExecutionProvider"))
    measured["repository"] = "tiny"
    return measured


def test_every_model_is_measured_in_every_variant(results: dict[str, Any]) -> None:
    assert [entry["model"] for entry in results["latency"]] == ["pose", "forecast"]
    assert [entry["model"] for entry in results["batching"]] == ["pose", "forecast"]
    for entry in results["latency"]:
        assert set(entry["variants"]) == LATENCY_VARIANTS
    for entry in results["batching"]:
        assert set(entry["variants"]) == {serving.BATCHED, serving.UNBATCHED}
    for entry in [*results["latency"], *results["batching"]]:
        for summary in entry["variants"].values():
            assert set(summary) >= SUMMARY_KEYS
            assert summary["errors"] == 0
            assert summary["requests"] > 0


def test_ratios_are_positive_finite_numbers(results: dict[str, Any]) -> None:
    ratios = [value for entry in [*results["latency"], *results["batching"]] for value in entry["ratios"].values()]
    assert len(ratios) == 2 * len(report.RATIOS)
    for value in ratios:
        assert isinstance(value, float)
        assert math.isfinite(value)
        assert value > 0


def test_batch_statistics_come_from_the_servers(results: dict[str, Any]) -> None:
    for entry in results["batching"]:
        unbatched, batched = entry["variants"][serving.UNBATCHED], entry["variants"][serving.BATCHED]
        assert unbatched["mean_batch_size"] == 1.0  # max_batch_size=1 must never join requests
        assert 1.0 <= batched["mean_batch_size"] <= PLAN.concurrency
        # Stats count the measured traffic (and nothing from before it), including its warm-up calls.
        assert batched["inference_count"] >= batched["requests"]


def test_report_renders_and_writes_json(results: dict[str, Any], tmp_path: Path) -> None:
    text = report.markdown(results)
    assert "| pose | binary / JSON requests/s |" in text
    assert results["machine"]["server_providers"] == ["CPUExecutionProvider"]
    path = report.write(results, tmp_path)
    assert path.suffix == ".json"
    assert path.read_text().count('"model": "pose"') == 2


def test_the_machine_record_names_each_gpu_nvidia_smi_lists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert report.gpus() == []  # no nvidia-smi: a CPU machine
    tool = tmp_path / "nvidia-smi"
    tool.write_text("#!/bin/sh\nprintf 'NVIDIA H200, 580.159.03\\nNVIDIA H100 80GB HBM3, 580.159.03\\n'\n")
    tool.chmod(0o755)
    assert report.gpus() == ["NVIDIA H200 (driver 580.159.03)", "NVIDIA H100 80GB HBM3 (driver 580.159.03)"]
    tool.write_text("#!/bin/sh\nexit 9\n")  # a driver that does not answer
    assert report.gpus() == []
