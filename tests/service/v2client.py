"""A minimal V2 client for the tests: JSON and binary request bodies, response decoding, a local reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort

DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.float64): "FP64", np.dtype(np.int64): "INT64"}
DTYPES = {name: dtype for dtype, name in DATATYPES.items()}


def json_request(inputs: dict[str, np.ndarray], **fields: Any) -> dict[str, Any]:
    tensors = [
        {"name": name, "shape": list(a.shape), "datatype": DATATYPES[a.dtype], "data": a.ravel().tolist()}
        for name, a in inputs.items()
    ]
    return {"inputs": tensors, **fields}


def binary_request(
    inputs: dict[str, np.ndarray], outputs: list[dict[str, Any]] | None = None, binary_output: bool = True
) -> tuple[bytes, dict[str, str]]:
    header: dict[str, Any] = {
        "inputs": [
            {
                "name": name,
                "shape": list(a.shape),
                "datatype": DATATYPES[a.dtype],
                "parameters": {"binary_data_size": a.nbytes},
            }
            for name, a in inputs.items()
        ],
        "parameters": {"binary_data_output": binary_output},
    }
    if outputs is not None:
        header["outputs"] = outputs
    head = json.dumps(header).encode()
    headers = {"Inference-Header-Content-Length": str(len(head)), "Content-Type": "application/octet-stream"}
    return head + b"".join(a.tobytes() for a in inputs.values()), headers


def decode(response: httpx.Response) -> dict[str, np.ndarray]:
    """Outputs of a 200 response, JSON or binary."""
    assert response.status_code == 200, response.text
    length = int(response.headers.get("inference-header-content-length", len(response.content)))
    header = json.loads(response.content[:length])
    offset, outputs = length, {}
    for out in header["outputs"]:
        dtype = DTYPES[out["datatype"]]
        size = out.get("parameters", {}).get("binary_data_size")
        if size is None:
            outputs[out["name"]] = np.asarray(out["data"], dtype=dtype).reshape(out["shape"])
        else:
            chunk = response.content[offset : offset + size]
            outputs[out["name"]] = np.frombuffer(chunk, dtype=dtype).reshape(out["shape"])
            offset += size
    assert offset == len(response.content)
    return outputs


def reference(onnx: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Unbatched onnxruntime results computed in the test process."""
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    names = [out.name for out in session.get_outputs()]
    return dict(zip(names, session.run(names, inputs), strict=True))
