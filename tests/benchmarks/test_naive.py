"""The naive peer answers the V2 binary request the benchmark sends with what onnxruntime computes (in process)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort

from benchmarks.load import binary_request, decode
from benchmarks.naive import create_app
from benchmarks.workloads import build_tiny_repository, find_workloads


def test_binary_infer_matches_onnxruntime(tmp_path: Path) -> None:
    workload = find_workloads(build_tiny_repository(tmp_path), ("pose",))[0]
    model = workload.folder / "model.onnx"
    request = binary_request(workload.inputs)
    app = create_app(str(model))

    async def ask() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            ready = await http.get(f"/v2/models/{workload.name}/ready")
            infer = await http.post(
                f"/v2/models/{workload.name}/infer", content=request.content, headers=request.headers
            )
            return ready, infer

    ready, answer = asyncio.run(ask())
    assert ready.status_code == 200
    outputs = decode(answer)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, workload.inputs), strict=True))
    assert set(outputs) == set(expected)
    for name, array in expected.items():
        np.testing.assert_allclose(outputs[name], array, rtol=1e-5)
