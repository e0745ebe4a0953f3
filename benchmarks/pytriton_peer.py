"""The PyTriton peer: Triton Inference Server with its dynamic batcher in front of the same ONNX file.

Runs in the benchmark-only virtualenv that scripts/install-bench-deps.sh creates (PyTriton pins numpy<2), so it
imports nothing from the project. The infer function runs onnxruntime with the thread settings posecast gets;
Triton's own HTTP endpoint speaks the V2 protocol with the binary tensor extension, so the very request body that
posecast and the naive peer get works here unchanged.

python benchmarks/pytriton_peer.py MODEL.onnx --name pose_cnn --port 8000
"""

from __future__ import annotations

import argparse
import os
import signal
import sysconfig
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

# Installed in benchmarks/.pytriton-venv only, so mypy in the project's environment cannot see them.
from pytriton.decorators import batch  # type: ignore[import-not-found]
from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor  # type: ignore[import-not-found]
from pytriton.triton import Triton, TritonConfig  # type: ignore[import-not-found]

DTYPES = {"tensor(float)": np.float32, "tensor(uint8)": np.uint8}  # what the benchmarked models take


def onnx_session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def tensors(args: list[Any]) -> list[Tensor]:
    """Triton's per-sample signature: the ONNX graph's, less its (dynamic) batch axis."""
    return [Tensor(name=arg.name, dtype=DTYPES[arg.type], shape=tuple(arg.shape[1:])) for arg in args]


def serve(args: argparse.Namespace) -> None:
    session = onnx_session(args.model, args.threads)
    outputs = [arg.name for arg in session.get_outputs()]

    @batch
    def infer(**inputs: np.ndarray) -> dict[str, np.ndarray]:
        return dict(zip(outputs, session.run(outputs, inputs), strict=True))

    # Triton's Python backend stub links against libpython: it must find this interpreter's shared library.
    library = sysconfig.get_config_var("LIBDIR")
    os.environ["LD_LIBRARY_PATH"] = ":".join(filter(None, [library, os.environ.get("LD_LIBRARY_PATH")]))
    config = TritonConfig(
        http_address="127.0.0.1", http_port=args.port, allow_grpc=False, allow_metrics=False, log_verbose=0
    )
    model_config = ModelConfig(
        max_batch_size=args.max_batch_size,
        batcher=DynamicBatcher(max_queue_delay_microseconds=int(args.queue_delay_ms * 1000)),
    )
    # serve() stops Triton cleanly on KeyboardInterrupt only; a plain SIGTERM would orphan tritonserver.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with Triton(config=config) as triton:
        triton.bind(
            model_name=args.name,
            infer_func=infer,
            inputs=tensors(session.get_inputs()),
            outputs=tensors(session.get_outputs()),
            config=model_config,
        )
        triton.serve()  # until SIGINT, or SIGTERM below: either way Triton and its stubs are stopped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", type=Path, help="the ONNX file")
    parser.add_argument("--name", required=True, help="model name in the URL, /v2/models/<name>/infer")
    parser.add_argument("--port", type=int, required=True, help="HTTP port on 127.0.0.1")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--queue-delay-ms", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    serve(parser.parse_args())


if __name__ == "__main__":
    main()
