"""V2 request bodies in both encodings and their answers decoded (the service tests use these too), a bounded
closed-loop load generator, and latency summaries.

Bodies are encoded once before the clock starts, so the numbers are server + transport time, not client encoding.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import httpx
import numpy as np

from service import tensors

Encoding = Literal["json", "binary"]
HEADER_LENGTH = "Inference-Header-Content-Length"


class EncodedRequest(NamedTuple):
    """A ready-to-send V2 infer body with its headers."""

    content: bytes
    headers: dict[str, str]


def json_request(inputs: dict[str, np.ndarray], **fields: Any) -> dict[str, Any]:
    """A V2 JSON infer request, every input as `data`; `fields` (`id`, `parameters`, `outputs`) go on top."""
    entries = [_entry(name, array) | {"data": array.ravel().tolist()} for name, array in inputs.items()]
    return {"inputs": entries, **fields}


def binary_request(
    inputs: dict[str, np.ndarray], outputs: list[dict[str, Any]] | None = None, binary_output: bool = True
) -> EncodedRequest:
    """Inputs as binary tensors after the JSON header; `outputs` and `binary_output` choose the answer's form."""
    entries = [
        _entry(name, array) | {"parameters": {"binary_data_size": array.nbytes}} for name, array in inputs.items()
    ]
    fields: dict[str, Any] = {"inputs": entries, "parameters": {"binary_data_output": binary_output}}
    if outputs is not None:
        fields["outputs"] = outputs
    header = json.dumps(fields).encode()
    body = b"".join([header, *(np.ascontiguousarray(array).tobytes() for array in inputs.values())])
    return EncodedRequest(body, {HEADER_LENGTH: str(len(header)), "Content-Type": "application/octet-stream"})


def encode(inputs: dict[str, np.ndarray], encoding: Encoding) -> EncodedRequest:
    """The same inputs as JSON `data` (outputs as JSON) or as binary tensors (outputs binary too)."""
    if encoding == "json":
        return EncodedRequest(json.dumps(json_request(inputs)).encode(), {"Content-Type": "application/json"})
    return binary_request(inputs)


def _entry(name: str, array: np.ndarray) -> dict[str, Any]:
    return {"name": name, "shape": list(array.shape), "datatype": tensors.v2_datatype(array.dtype)}


def decode(response: httpx.Response) -> dict[str, np.ndarray]:
    """Every output of a 200 infer response, whichever encoding it came back in."""
    if response.status_code != 200:
        raise RuntimeError(f"infer answered {response.status_code}: {response.text[:500]}")
    content = response.content
    length = int(response.headers.get(HEADER_LENGTH, len(content)))
    offset, outputs = length, {}
    for out in json.loads(content[:length])["outputs"]:
        dtype = tensors.numpy_dtype(out["datatype"])
        size = out.get("parameters", {}).get("binary_data_size")
        if size is None:
            outputs[out["name"]] = np.asarray(out["data"], dtype=dtype).reshape(out["shape"])
        else:
            outputs[out["name"]] = np.frombuffer(content[offset : offset + size], dtype=dtype).reshape(out["shape"])
            offset += size
    if offset != len(content):
        raise RuntimeError(f"infer answer has {len(content) - offset} bytes the header does not account for")
    return outputs


@dataclass(frozen=True)
class LoadResult:
    """Latencies of the successful calls of one closed-loop run, its wall time and its failures."""

    latencies_s: list[float]
    wall_s: float
    errors: int
    concurrency: int

    @property
    def requests_per_s(self) -> float:
        return len(self.latencies_s) / self.wall_s if self.wall_s > 0 else math.nan

    def percentile_ms(self, q: float) -> float:
        return float(np.percentile(self.latencies_s, q) * 1000) if self.latencies_s else math.nan

    @classmethod
    def merge(cls, parts: Sequence[LoadResult]) -> LoadResult:
        """One result from the alternating slices of one variant: latencies pooled, wall times added."""
        latencies = [latency for part in parts for latency in part.latencies_s]
        return cls(latencies, sum(p.wall_s for p in parts), sum(p.errors for p in parts), parts[0].concurrency)

    def summary(self) -> dict[str, float | int]:
        return {
            "requests": len(self.latencies_s),
            "errors": self.errors,
            "concurrency": self.concurrency,
            "wall_s": round(self.wall_s, 3),
            "requests_per_s": round(self.requests_per_s, 2),
            "p50_ms": round(self.percentile_ms(50), 3),
            "p95_ms": round(self.percentile_ms(95), 3),
        }


Call = Callable[[], Awaitable[bool]]  # one request; True when it succeeded


async def closed_loop(call: Call, *, count: int, concurrency: int, time_cap_s: float) -> LoadResult:
    """`concurrency` workers share `count` calls; each starts its next call when the last returns.

    Workers stop taking calls once `time_cap_s` has passed, so a slow machine shortens the run, never lengthens it.
    """
    tickets = iter(range(count))  # shared by the workers; next() never yields to the event loop
    latencies: list[float] = []
    errors = 0
    start = time.perf_counter()
    deadline = start + time_cap_s

    async def worker() -> None:
        nonlocal errors
        for _ in tickets:
            if time.perf_counter() >= deadline:
                return
            sent = time.perf_counter()
            if await call():
                latencies.append(time.perf_counter() - sent)
            else:
                errors += 1

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, count)))))
    return LoadResult(latencies, time.perf_counter() - start, errors, concurrency)


def infer_call(client: httpx.AsyncClient, model: str, request: EncodedRequest) -> Call:
    """A Call that POSTs `request` to the model's V2 infer route."""
    return http_call(client, "POST", f"/v2/models/{model}/infer", request)


def http_call(client: httpx.AsyncClient, method: str, path: str, request: EncodedRequest | None = None) -> Call:
    """A Call that succeeds on a 200 answer; transport errors count as failures, not crashes."""
    content, headers = (request.content, request.headers) if request else (None, None)

    async def call() -> bool:
        try:
            response = await client.request(method, path, content=content, headers=headers)
        except httpx.TransportError:
            return False
        return response.status_code == 200

    return call


def async_client(url: str, concurrency: int) -> httpx.AsyncClient:
    """Keep-alive connections for every worker, so connection setup is not part of any latency."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(base_url=url, timeout=30, limits=limits)


def blocking_loop(run: Callable[[], object], *, count: int, time_cap_s: float) -> LoadResult:
    """`run` called back to back in this thread: the in-process floor the server is compared with."""
    latencies: list[float] = []
    start = time.perf_counter()
    deadline = start + time_cap_s
    for _ in range(count):
        if time.perf_counter() >= deadline:
            break
        sent = time.perf_counter()
        run()
        latencies.append(time.perf_counter() - sent)
    return LoadResult(latencies, time.perf_counter() - start, 0, 1)
