"""The naive peer: the FastAPI endpoint one writes in an afternoon, to show what posecast's machinery buys.

One `session.run` per request, no batching, no queue, no limits, the V2 binary request parsed by hand; uvicorn
with uvloop and httptools. It runs on the event loop (blocking it, as naive code does): with one intra-op thread
and no other work that is also the fastest a single process goes without batching. Imports nothing from posecast.

python -m benchmarks.naive MODEL.onnx --port 8000
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import onnxruntime as ort
import uvicorn
from fastapi import FastAPI, Request, Response

from service.tensors import numpy_dtype

HEADER_LENGTH = "Inference-Header-Content-Length"


def create_app(model: str, threads: int = 1) -> FastAPI:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    app = FastAPI()

    @app.get("/v2/models/{name}/ready")
    async def ready(name: str) -> dict[str, bool]:
        return {"ready": True}

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str, request: Request) -> Response:
        body = await request.body()
        length = int(request.headers[HEADER_LENGTH])
        feeds, offset = {}, length
        for spec in json.loads(body[:length])["inputs"]:  # binary tensors only
            size, dtype = spec["parameters"]["binary_data_size"], numpy_dtype(spec["datatype"])
            feeds[spec["name"]] = np.frombuffer(body, dtype, size // dtype.itemsize, offset).reshape(spec["shape"])
            offset += size
        names = [output.name for output in session.get_outputs()]
        arrays = session.run(names, feeds)
        outputs = [
            {"name": n, "datatype": "FP32", "shape": list(a.shape), "parameters": {"binary_data_size": a.nbytes}}
            for n, a in zip(names, arrays, strict=True)
        ]
        header = json.dumps({"model_name": name, "outputs": outputs}).encode()
        content = b"".join([header, *(a.tobytes() for a in arrays)])
        return Response(content, media_type="application/octet-stream", headers={HEADER_LENGTH: str(len(header))})

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the ONNX file")
    parser.add_argument("--port", type=int, required=True, help="HTTP port on 127.0.0.1")
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    args = parser.parse_args()
    app = create_app(args.model, args.threads)
    # No access log, as posecast and PyTriton in the peer benchmark.
    uvicorn.run(app, host="127.0.0.1", port=args.port, loop="uvloop", http="httptools", access_log=False)


if __name__ == "__main__":
    main()
