"""The peer benchmark's rows and server launchers, without starting anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import peers
from benchmarks.serving import Runtime
from benchmarks.workloads import Workload, build_tiny_repository, find_workloads
from modelcard import CARD_FILENAME, ModelCard


@pytest.fixture(scope="module")
def workload(tmp_path_factory: pytest.TempPathFactory) -> Workload:
    return find_workloads(build_tiny_repository(tmp_path_factory.mktemp("repository")), ("pose",))[0]


def test_the_v2_binary_rows_send_the_same_request(workload: Workload) -> None:
    table = {row.key: row for row in peers.rows(workload)}
    assert list(table) == [
        "v2_binary",
        "v2_binary_latency",
        "v2_json",
        "v1_pose_320x240",
        "v1_pose_1920x1080",
        "naive",
        "pytriton",
    ]
    binary = [table[key] for key in ("v2_binary", "v2_binary_latency", "naive", "pytriton")]
    assert {row.server for row in binary} == {"posecast", "posecast_latency", "naive", "pytriton"}
    assert {row.path for row in binary} == {f"/v2/models/{workload.name}/infer"}
    assert all(row.body == binary[0].body for row in binary)
    assert "Inference-Header-Content-Length" in binary[0].body.headers


def test_the_pose_bound_adds_the_models_cpu_time_to_preparing_each_jpeg(workload: Workload) -> None:
    card = ModelCard.read(workload.folder / CARD_FILENAME)
    bounds = peers.pose_bound(card, {"32": {"samples_per_s": 1000.0}}, cores=2, duration_s=0.2)
    assert set(bounds) == {"pose 320x240", "pose 1920x1080"}
    for bound in bounds.values():
        assert bound["model_cpu_ms"] == 2.0  # 2 cores / 1000 samples/s
        assert bound["samples_per_s"] == pytest.approx(2000 / (bound["prepare_cpu_ms"] + 2.0), rel=1e-3)
    assert bounds["pose 1920x1080"]["prepare_cpu_ms"] > bounds["pose 320x240"]["prepare_cpu_ms"]


def test_a_flip_testing_card_runs_the_model_twice_per_image_in_the_bound(workload: Workload) -> None:
    card = ModelCard.read(workload.folder / CARD_FILENAME)
    card.__dict__["pose_spec"] = card.pose_spec.model_copy(update={"flip": True})  # the cached property's slot
    bounds = peers.pose_bound(card, {"32": {"samples_per_s": 1000.0}}, cores=2, duration_s=0.1)
    assert {bound["model_cpu_ms"] for bound in bounds.values()} == {4.0}


def test_raw_runs_before_and_after_the_servers_become_one_baseline() -> None:
    before = {"32": {"batch": 32, "runs": 10, "samples_per_s": 900.0, "p50_ms": 35.0, "p99_ms": 40.0}}
    after = {"32": {"batch": 32, "runs": 12, "samples_per_s": 1100.0, "p50_ms": 29.0, "p99_ms": 30.0}}
    merged = peers.bracketed(before, after)["32"]
    assert (merged["samples_per_s"], merged["p50_ms"], merged["p99_ms"]) == (1000.0, 32.0, 35.0)
    assert (merged["runs"], merged["batch"], merged["samples_per_s_before_after"]) == (22, 32, [900.0, 1100.0])


def test_pose_rows_send_jpegs_of_both_sizes(workload: Workload) -> None:
    jpegs = [row for row in peers.rows(workload) if row.key.startswith("v1_pose")]
    assert [row.body.headers["Content-Type"] for row in jpegs] == ["image/jpeg"] * 2
    assert all(row.body.content[:2] == b"\xff\xd8" for row in jpegs)  # JPEG's start-of-image marker
    assert len(jpegs[1].body.content) > len(jpegs[0].body.content)
    assert not any(row.v2 for row in jpegs)


def test_without_its_environment_pytriton_is_skipped_with_the_fix(
    workload: Workload, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(peers, "PYTRITON_PYTHON", tmp_path / "missing" / "bin" / "python")
    starts, skipped = peers.launchers(workload, tmp_path, Runtime(providers=peers.CPU), workers=1, pin=False)
    assert set(starts) == {"posecast", "posecast_latency", "naive"}
    assert "bash scripts/install-bench-deps.sh" in skipped["pytriton"]


def test_off_the_cpu_the_peers_that_run_only_there_are_skipped_with_the_reason(
    workload: Workload, tmp_path: Path
) -> None:
    assert peers.parse_args([]).providers == peers.CPU
    cuda = "CUDAExecutionProvider,CPUExecutionProvider"
    starts, skipped = peers.launchers(workload, tmp_path, Runtime(providers=cuda), workers=1, pin=False)
    assert set(starts) == {"posecast", "posecast_latency"}
    assert set(skipped) == {"naive", "pytriton"}
    assert all(f"this run is on {cuda}" in reason for reason in skipped.values())
