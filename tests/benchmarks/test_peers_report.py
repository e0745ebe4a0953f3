"""The peer benchmark's ratios, targets and files, on made-up numbers (conftest.py): no servers, no hey."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks import peers_report


def test_cell_ratios_hold_rows_to_raw_batch_32_and_batch_1(peer_results: dict[str, Any]) -> None:
    ratios = peers_report.cell_ratios({"requests_per_s": 700.0, "p50_ms": 2.75}, peer_results["raw"])
    assert ratios == {"over_raw_throughput": pytest.approx(0.7), "p50_minus_raw_ms": pytest.approx(0.75)}


def test_a_baseline_that_measured_nothing_gives_nan(peer_results: dict[str, Any]) -> None:
    peer_results["raw"]["32"]["samples_per_s"] = 0.0
    ratios = peers_report.cell_ratios({"requests_per_s": 700.0, "p50_ms": 3.0}, peer_results["raw"])
    assert math.isnan(ratios["over_raw_throughput"])


def test_every_cell_gets_ratios_and_the_run_its_targets(peer_results: dict[str, Any]) -> None:
    peers_report.add_ratios(peer_results)
    binary = peer_results["rows"][0]["cells"]
    assert binary["64"]["over_raw_throughput"] == pytest.approx(0.1)  # 100 req/s over 1000 samples/s
    assert binary["1"]["p50_minus_raw_ms"] == pytest.approx(0.5)  # 2.5 ms over 2 ms
    targets = {target["target"]: target for target in peer_results["targets"]}
    assert len(targets) == len(peers_report.TARGETS)
    versus_naive = targets["V2 binary / naive FastAPI req/s at 64 clients"]
    assert versus_naive["value"] == pytest.approx(100 / 500)
    assert versus_naive["met"] is False
    latency = targets["V2 binary p50 at 1 client(s), 1 process on every core - raw batch 1 p50 on every core (ms)"]
    assert (latency["value"], latency["at_most"], latency["met"]) == (pytest.approx(0.75), True, True)
    same_threads = targets["V2 binary p50 at 1 client(s) - raw batch 1 p50 on the servers' threads (ms)"]
    assert (same_threads["value"], same_threads["met"]) == (pytest.approx(0.25), True)  # 2.5 ms over 2.25 ms


def test_a_skipped_row_makes_its_target_not_applicable(peer_results: dict[str, Any]) -> None:
    pytriton = peer_results["rows"][-1]
    pytriton["cells"], pytriton["skipped"] = {}, "no PyTriton environment"
    peers_report.add_ratios(peer_results)
    target = next(t for t in peer_results["targets"] if "PyTriton" in t["target"])
    assert math.isnan(target["value"])
    assert target["met"] is None
    text = peers_report.markdown(peer_results)
    assert "| PyTriton, V2 binary | skipped |" in text
    assert "**PyTriton, V2 binary skipped**: no PyTriton environment" in text
    assert "| V2 binary / PyTriton req/s at 64 clients | n/a | >= 1.5 | n/a |" in text


def test_markdown_has_raw_rows_every_cell_and_the_targets(peer_results: dict[str, Any]) -> None:
    peer_results["rows"][0]["cells"]["1"]["p99_ms"] = math.nan  # fewer than 100 answers: hey gave no p99
    peers_report.add_ratios(peer_results)
    text = peers_report.markdown(peer_results)
    assert (
        "| raw onnxruntime, batch 32, 2 threads (samples/s) | in-process | 1000.0 | 32.00 | 48.00 | 0 | 1.00 | |"
        in text
    )
    assert "| raw onnxruntime, batch 1, 1 thread (samples/s) | in-process | 400.0 | 2.25 | 3.38 | 0 | 0.40 | |" in text
    assert "| posecast V2 binary | 1 | 50.0 | 2.5 | n/a | 0 | 0.05 | +0.50 |" in text
    assert "| posecast V2 binary, 1 process on every core | 1 | 360.0 | 2.8 | 3.5 | 0 | 0.36 | +0.75 |" in text
    assert text.count("| posecast V2 binary, 1 process on every core |") == 1  # measured at one client only
    bound = "| /v1 pose bound, 1920x1080 JPEG: 2 cores / (prepare + model CPU per image) | in-process | 350.0 |"
    assert bound in text
    assert text.count("| naive FastAPI, V2 binary |") == 3
    assert "| V2 binary req/s at 64 clients / raw batch 32 samples/s | 0.10 | >= 0.7 | no |" in text


def test_the_header_shows_how_far_raw_throughput_drifted_during_the_run(peer_results: dict[str, Any]) -> None:
    peers_report.add_ratios(peer_results)
    assert "before the server rows" not in peers_report.markdown(peer_results)  # a run without the second raw pass
    peer_results["raw"]["32"]["samples_per_s_before_after"] = [950.0, 1050.0]
    text = peers_report.markdown(peer_results)
    assert "- raw batch 32: 950.0 samples/s before the server rows, 1050.0 after;" in text


def test_write_puts_json_markdown_and_png_side_by_side(peer_results: dict[str, Any], tmp_path: Path) -> None:
    peers_report.add_ratios(peer_results)
    table, data, picture = peers_report.write(peer_results, tmp_path)
    assert data.name.startswith("peers-")
    assert data.suffix == ".json"
    assert (table.stem, picture.stem) == (data.stem, data.stem)
    assert (table.suffix, picture.suffix) == (".md", ".png")
    assert json.loads(data.read_text())["rows"][0]["key"] == "v2_binary"
    assert table.read_text().startswith("## posecast peer benchmark")


def test_the_header_says_whether_the_posecast_processes_were_pinned(peer_results: dict[str, Any]) -> None:
    peers_report.add_ratios(peer_results)
    assert "posecast in 2 process(es) each on its own CPUs; raw" in peers_report.markdown(peer_results)
    peer_results["plan"]["posecast_pin_workers"] = False
    assert "posecast in 2 process(es); raw" in peers_report.markdown(peer_results)


def test_the_header_names_the_gpu_a_run_had(peer_results: dict[str, Any]) -> None:
    peers_report.add_ratios(peer_results)
    assert "GPU" not in peers_report.markdown(peer_results).splitlines()[2]
    peer_results["machine"]["gpus"] = ["NVIDIA H200 (driver 580.159.03)"]
    assert "- machine: 2 of 2 CPUs, GPU: NVIDIA H200 (driver 580.159.03), Linux-test" in peers_report.markdown(
        peer_results
    )
