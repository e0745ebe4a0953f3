"""Large bodies are parsed and encoded in worker threads, small ones inline (the app in-process, models loaded)."""

from __future__ import annotations

import asyncio
import importlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from benchmarks.load import json_request
from service.app import create_app
from service.settings import Settings


def on_loop_calls(monkeypatch: pytest.MonkeyPatch, target: str) -> list[bool]:
    """Wrap `target` (`module.attribute`); the list says, per call, whether it ran on the event loop's thread."""
    module, name = target.rsplit(".", 1)
    original: Callable[..., Any] = getattr(importlib.import_module(module), name)
    calls: list[bool] = []

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(threading.current_thread() is threading.main_thread())
        return original(*args, **kwargs)

    monkeypatch.setattr(target, wrapper)
    return calls


async def post_all(app: FastAPI, requests: list[tuple[str, Any]]) -> list[httpx.Response]:
    """Run the lifespan (models load), wait until ready, then POST each JSON body in turn."""
    async with app.router.lifespan_context(app):
        while app.state.repository.not_ready_reason() is not None:
            await asyncio.sleep(0.01)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return [await http.post(path, json=body) for path, body in requests]


@pytest.mark.usefixtures("restore_logging")
def test_large_json_bodies_are_handled_off_the_event_loop(repository: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    decodes = on_loop_calls(monkeypatch, "service.protocol.decode_request")
    encodes = on_loop_calls(monkeypatch, "service.protocol.encode_response")
    pose_parses = on_loop_calls(monkeypatch, "service.api.pose.validated")
    forecast_parses = on_loop_calls(monkeypatch, "service.api.forecast.validated")
    small, large = np.ones((1, 4), np.float32), np.ones((20_000, 4), np.float32)  # large: ~400 KB of JSON
    requests = [
        ("/v2/models/scale/infer", json_request({"x": small})),
        ("/v2/models/scale/infer", json_request({"x": large})),
        ("/v1/models/pose/pose", {"images": ["AAAA"]}),
        ("/v1/models/pose/pose", {"images": ["A" * 400_000]}),
        ("/v1/models/sequence/forecast", {"sequence": small.tolist(), "horizon": 1}),
        ("/v1/models/sequence/forecast", {"sequence": large.tolist(), "horizon": 1}),
    ]
    settings = Settings(repository=repository, max_request_batch_size=20_000)  # one large request, on purpose
    responses = asyncio.run(post_all(create_app(settings), requests))
    assert [r.status_code for r in responses[:2]] == [200, 200], responses[1].text
    assert decodes == encodes == [True, False]
    assert pose_parses == forecast_parses == [True, False]
