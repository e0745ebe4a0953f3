"""Export a checkpoint into the model repository: ONNX graph, parity check, model card and Triton config.

Layout (Triton-compatible): `<repository>/<name>/config.pbtxt` and `<repository>/<name>/<version>/model.onnx`
with `model.json` beside it. A version directory appears atomically, fully written or not at all.
"""

from __future__ import annotations

import datetime as dt
import logging
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
import onnxruntime as ort
import torch

from modelcard import CARD_FILENAME, MODEL_FILENAME, Datatype, ForecastIntervals, ModelCard, TensorSpec, file_sha256
from modelcard.triton import write_triton_config
from training.checkpoint import Checkpoint
from training.onnx_export import ExportError, export_onnx
from training.tasks import task_for
from training.tasks.base import Predictor, torch_predictor

PARITY_TOLERANCE = 1e-4
PARITY_SAMPLES = 8  # test samples compared at batch sizes 1 and PARITY_SAMPLES

logger = logging.getLogger(__name__)


def onnx_predictor(path: Path) -> Predictor:
    """An onnxruntime CPU session as a numpy predictor (inputs in graph order)."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [value.name for value in session.get_inputs()]

    def predict(inputs: list[npt.NDArray[np.float32]]) -> list[npt.NDArray[np.float32]]:
        return list(session.run(None, dict(zip(names, inputs, strict=True))))

    return predict


def measure_parity(
    reference: Predictor, candidate: Predictor, inputs: list[npt.NDArray[np.float32]]
) -> tuple[float, float]:
    """(max |reference - candidate|, max |reference|) over every output, at batch size 1 and at the full batch.

    The magnitude matters: float32 carries about 7 digits, so a forecast in the hundreds (CO2 in ppm) differs
    between two correct runtimes by more than one in [0, 1] does.
    """
    worst, magnitude = 0.0, 0.0
    for batch in ([x[:1] for x in inputs], inputs):
        for want, got in zip(reference(batch), candidate(batch), strict=True):
            worst = max(worst, float(np.max(np.abs(want - got))))
            magnitude = max(magnitude, float(np.max(np.abs(want))))
    return worst, magnitude


def evaluation_extra(extra: dict[str, Any], intervals: ForecastIntervals | None) -> dict[str, Any]:
    """What `Task.evaluate` needs: the checkpoint's extra, plus calibrated intervals to measure their coverage."""
    return extra | ({"intervals": intervals.half_widths} if intervals else {})


def next_version(model_dir: Path) -> int:
    versions = [int(p.name) for p in model_dir.glob("*") if p.is_dir() and p.name.isdigit()]
    return max(versions, default=0) + 1


def export_to_repository(
    checkpoint_path: Path, repository: Path, name: str | None = None, version: int | None = None
) -> Path:
    """Export, check parity, evaluate through onnxruntime and write the card; returns the version directory."""
    state = Checkpoint.load(checkpoint_path)
    config = state.train_config
    model = state.build_model()
    task = task_for(model.io_spec().task)
    name = name or config.name
    model_dir = repository / name
    version = version or next_version(model_dir)
    target = model_dir / str(version)
    if target.exists():
        raise FileExistsError(f"{target} exists; versions are immutable, pick another --version")
    test = task.test_split(config)  # regenerated deterministically from the config's data seed
    inputs = task.test_inputs(test)
    model_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=model_dir, prefix=".export-"))  # hidden: the server skips dot-dirs
    scratch.chmod(0o755)  # mkdtemp's 0700 would hide the version from a server running as another user
    try:
        onnx_path = export_onnx(model, scratch / MODEL_FILENAME)
        served = onnx_predictor(onnx_path)
        parity, magnitude = measure_parity(torch_predictor(model), served, [x[:PARITY_SAMPLES] for x in inputs])
        allowed = PARITY_TOLERANCE * max(1.0, magnitude)
        if parity > allowed:
            raise ExportError(
                f"onnxruntime differs from torch by {parity:.3g} > {allowed:.3g} ({PARITY_TOLERANCE} of outputs up "
                f"to {magnitude:.3g}); not exported"
            )
        intervals = task.calibrate(served, config)
        metrics = task.evaluate(served, test, evaluation_extra(state.extra, intervals))  # what the server computes
        card = ModelCard(
            name=name,
            version=version,
            task=task.card_task,
            architecture=state.model_name,
            description=config.description,
            inputs=tensor_specs(onnx_path, "input"),
            outputs=tensor_specs(onnx_path, "output"),
            metrics=metrics,
            parity_max_abs_error=parity,
            sha256=file_sha256(onnx_path),
            training={
                "config": state.config,
                "model_args": state.model_args,
                "seed": config.seed,
                "best_epoch": state.epoch,
                "best_val_loss": state.best_val_loss,
                "epochs_run": len(state.history),
                "extra": state.extra,  # what evaluation needs from the train split, e.g. the mean pose
            },
            environment=environment(),
            created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            intervals=intervals,
            **task.card_fields(config, model, state.extra),
        )
        card.write(scratch / CARD_FILENAME)
        scratch.rename(target)  # atomic: the server never sees a half-written version
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write_triton_config(card, model_dir / "config.pbtxt")
    logger.info("exported %s version %d to %s (parity %.2g)", name, version, target, parity)
    return target


ONNX_TO_V2: dict[int, Datatype] = {
    onnx.TensorProto.FLOAT: "FP32",
    onnx.TensorProto.FLOAT16: "FP16",
    onnx.TensorProto.DOUBLE: "FP64",
    onnx.TensorProto.INT64: "INT64",
    onnx.TensorProto.INT32: "INT32",
    onnx.TensorProto.UINT8: "UINT8",
    onnx.TensorProto.BOOL: "BOOL",
}


def tensor_specs(path: Path, kind: str) -> list[TensorSpec]:
    """The graph's real inputs or outputs as card entries; -1 marks every symbolic (dynamic) axis."""
    graph = onnx.load(str(path), load_external_data=False).graph
    values = graph.input if kind == "input" else graph.output
    specs = []
    for value in values:
        tensor_type = value.type.tensor_type
        shape = [dim.dim_value if dim.HasField("dim_value") else -1 for dim in tensor_type.shape.dim]
        axes = ", ".join(dim.dim_param or str(dim.dim_value) for dim in tensor_type.shape.dim)
        specs.append(
            TensorSpec(
                name=value.name, datatype=ONNX_TO_V2[tensor_type.elem_type], shape=shape, description=f"({axes})"
            )
        )
    return specs


def environment() -> dict[str, str]:
    """Library versions and the git commit the export ran from ("-dirty" when the code had changes), for the card."""
    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=7"],
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "git_commit": commit,
    }
