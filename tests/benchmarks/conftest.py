"""A peer benchmark result as `benchmarks.peers.run` returns it before its ratios, with made-up numbers."""

from __future__ import annotations

from typing import Any

import pytest

ROWS = [
    ("v2_binary", "posecast V2 binary", "posecast"),
    ("v2_json", "posecast V2 JSON", "posecast"),
    ("v1_pose_320x240", "posecast /v1 pose, 320x240 JPEG", "posecast"),
    ("v1_pose_1920x1080", "posecast /v1 pose, 1920x1080 JPEG", "posecast"),
    ("naive", "naive FastAPI, V2 binary", "naive"),
    ("pytriton", "PyTriton, V2 binary", "pytriton"),
]


def cell(requests_per_s: float, p50_ms: float, p99_ms: float) -> dict[str, Any]:
    return {
        "clients": 1,
        "total_s": 10.0,
        "ok": int(requests_per_s * 10),
        "errors": 0,
        "p50_ms": p50_ms,
        "p99_ms": p99_ms,
        "status_codes": {},
        "error_lines": [],
        "requests_per_s": requests_per_s,
    }


@pytest.fixture
def peer_results() -> dict[str, Any]:
    """raw batch 32 serves 1000 samples/s and batch 1 answers in 2 ms; row i serves 100 * (i + 1) req/s at 64; the
    latency setup's row, measured at one client only, answers in 2.75 ms; the pose bounds are 700 and 350 images/s."""
    rows = [
        {
            "key": key,
            "label": label,
            "server": server,
            "cells": {
                "1": cell(50.0 * (i + 1), 2.5 + i, 4.0 + i),
                "16": cell(80.0 * (i + 1), 20.0 + i, 40.0 + i),
                "64": cell(100.0 * (i + 1), 60.0 + i, 120.0 + i),
            },
        }
        for i, (key, label, server) in enumerate(ROWS)
    ]
    latency_row = {
        "key": "v2_binary_latency",
        "label": "posecast V2 binary, 1 process on every core",
        "server": "posecast_latency",
        "cells": {"1": cell(360.0, 2.75, 3.5)},
    }
    rows.insert(1, latency_row)
    raw = {
        key: {
            "batch": size,
            "threads": threads,
            "runs": 100,
            "samples_per_s": per_s,
            "p50_ms": p50,
            "p99_ms": p50 * 1.5,
        }
        for key, size, threads, per_s, p50 in [
            ("1", 1, 2, 500.0, 2.0),
            ("8", 8, 2, 800.0, 10.0),
            ("32", 32, 2, 1000.0, 32.0),
            ("1, server threads", 1, 1, 400.0, 2.25),
        ]
    }
    for size, per_s in (("320x240", 700.0), ("1920x1080", 350.0)):
        raw[f"pose {size}"] = {
            "label": f"/v1 pose bound, {size} JPEG: 2 cores / (prepare + model CPU per image)",
            "prepare_cpu_ms": 2000 / per_s - 2.0,
            "model_cpu_ms": 2.0,
            "samples_per_s": per_s,
            "p50_ms": 2000 / per_s - 2.0,
            "p99_ms": 2000 / per_s - 1.5,
        }
    return {
        "timestamp": "2026-12-02T00:00:00+00:00",
        "machine": {
            "cpu_count": 2,
            "usable_cpus": 2,
            "platform": "Linux-test",
            "python": "3.11.7",
            "onnxruntime": "1.32.0",
            "available_providers": ["CPUExecutionProvider"],
            "server_providers": ["CPUExecutionProvider"],
            "load_average_before": [0.1, 0.1, 0.1],
            "load_average_after": [0.2, 0.1, 0.1],
        },
        "model": {"name": "pose_cnn", "version": 1, "task": "pose", "inputs": {"image": [1, 3, 128, 128]}},
        "repository": "model_repository",
        "plan": {
            "clients": [1, 16, 64],
            "duration_s": 10.0,
            "warmup_s": 2.0,
            "max_batch_size": 32,
            "pytriton_queue_delay_ms": 2.0,
            "intra_op_threads": 1,
            "inter_op_threads": 1,
            "posecast_workers": 2,
            "posecast_pin_workers": True,
            "raw_intra_op_threads": 2,
        },
        "raw": raw,
        "rows": rows,
    }
