"""The local reference the V2 and /v1 results are compared with (request bodies: `benchmarks.load`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort


def reference(onnx: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Unbatched onnxruntime results computed in the test process."""
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    names = [out.name for out in session.get_outputs()]
    return dict(zip(names, session.run(names, inputs), strict=True))
