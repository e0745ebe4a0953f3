"""The models a benchmark serves: a generated (or given) model repository and the inputs sent to each model.

The smoke test builds its repository here too, so benchmark and test serve the same names and signatures.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from modelcard import CARD_FILENAME, MODEL_FILENAME, ModelCard, SequenceLimits, Task, file_sha256
from service import tensors
from service.runtime import graph_spec

POSE_SIZE = (64, 64)  # (H, W) of the generated pose model
FORECAST_FEATURES = 34  # 17 keypoints x (x, y) per time step
FORECAST_HORIZON = 10
FORECAST_MAX_LENGTH = 64
SEQUENCE_LENGTH = 20  # time steps sent to forecast models
POSE_ARGS: dict[str, Any] = {"widths": [8, 16, 16, 32], "input_size": POSE_SIZE, "dropout": 0.0}
FORECAST_ARGS: dict[str, Any] = {
    "num_features": FORECAST_FEATURES,
    "d_model": 32,
    "num_heads": 2,
    "num_encoder_layers": 1,
    "num_decoder_layers": 1,
    "d_ff": 64,
    "dropout": 0.0,
    "horizon": FORECAST_HORIZON,
    "max_length": FORECAST_MAX_LENGTH,
}


@dataclass(frozen=True)
class Workload:
    """One served model and the batch-1 inputs every benchmark of it sends."""

    name: str
    version: int
    task: str
    folder: Path  # <repository>/<name>/<version>, as the server's loader takes it
    inputs: dict[str, np.ndarray]


def build_repository(root: Path) -> Path:
    """Export a small pose_cnn and transformer_forecaster into `root` (tens of seconds: torch.export)."""
    import torch

    from models import create_model
    from training.onnx_export import export_onnx

    torch.manual_seed(0)
    # The exporter logs a warning per missing optional torchvision op; none of them is used here.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    pose = create_model("pose_cnn", **POSE_ARGS)
    forecast = create_model("transformer_forecaster", **FORECAST_ARGS)
    _write_version(root, "pose", "pose", "pose_cnn", lambda path: export_onnx(pose, path))
    _write_version(
        root, "forecast", "forecast", "transformer_forecaster", lambda path: export_onnx(forecast, path), _limits()
    )
    return root


def build_tiny_repository(root: Path) -> Path:
    """The same names, tasks and signatures as `build_repository` in two-layer graphs: no torch, under a second.

    For the smoke test, which checks the measuring code rather than the models.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    pixels = 3 * POSE_SIZE[0] * POSE_SIZE[1]

    def weight(name: str, *shape: int) -> onnx.TensorProto:
        return numpy_helper.from_array(rng.normal(0, 0.01, shape).astype(np.float32), name)

    def constant(name: str, values: list[int]) -> onnx.TensorProto:
        return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)

    def io(name: str, *dims: int | str) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, list(dims))

    pose = helper.make_graph(
        [
            helper.make_node("Flatten", ["image"], ["flat"], axis=1),  # (B, 3*H*W)
            helper.make_node("MatMul", ["flat", "w_xy"], ["xy"]),
            helper.make_node("Reshape", ["xy", "xy_shape"], ["keypoints"]),  # (B, 17, 2)
            helper.make_node("MatMul", ["flat", "w_conf"], ["logits"]),
            helper.make_node("Sigmoid", ["logits"], ["confidence"]),  # (B, 17)
        ],
        "tiny_pose",
        [io("image", "batch", 3, *POSE_SIZE)],
        [io("keypoints", "batch", 17, 2), io("confidence", "batch", 17)],
        [weight("w_xy", pixels, 34), weight("w_conf", pixels, 17), constant("xy_shape", [-1, 17, 2])],
    )
    forecast = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["history", "time_axis"], ["mean"], keepdims=0),  # (B, D)
            helper.make_node("MatMul", ["mean", "w_steps"], ["steps"]),
            helper.make_node("Reshape", ["steps", "steps_shape"], ["forecast"]),  # (B, horizon, D)
        ],
        "tiny_forecast",
        [io("history", "batch", "time", FORECAST_FEATURES)],
        [io("forecast", "batch", FORECAST_HORIZON, FORECAST_FEATURES)],
        [
            weight("w_steps", FORECAST_FEATURES, FORECAST_HORIZON * FORECAST_FEATURES),
            constant("time_axis", [1]),
            constant("steps_shape", [-1, FORECAST_HORIZON, FORECAST_FEATURES]),
        ],
    )
    graphs: list[tuple[str, Task, Any, SequenceLimits | None]] = [
        ("pose", "pose", pose, None),
        ("forecast", "forecast", forecast, _limits()),
    ]
    for name, task, graph, limits in graphs:
        # ir_version pinned: onnx writes its newest by default, which an older onnxruntime refuses.
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
        _write_version(root, name, task, f"tiny_{name}", functools.partial(onnx.save_model, model), limits)
    return root


def cached_repository(cache: Path) -> Path:
    """`build_repository` once per model configuration and torch version, reused by later runs."""
    import torch

    fingerprint = json.dumps([POSE_ARGS, FORECAST_ARGS, torch.__version__], sort_keys=True)
    target = cache / f"repository-{hashlib.sha256(fingerprint.encode()).hexdigest()[:12]}"
    if not target.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=cache, prefix=".build-"))
        try:
            build_repository(scratch).rename(target)  # atomic: an interrupted build leaves no half repository
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    return target


def _limits() -> SequenceLimits:
    return SequenceLimits(
        max_input_length=FORECAST_MAX_LENGTH, max_horizon=FORECAST_HORIZON, feature_shape=[FORECAST_FEATURES]
    )


def _write_version(
    root: Path,
    name: str,
    task: Task,
    architecture: str,
    write_onnx: Callable[[Path], object],
    sequence: SequenceLimits | None = None,
) -> None:
    """`<root>/<name>/1/` with model.onnx and a card whose tensors are the graph's, as the server reads them."""
    folder = root / name / "1"
    folder.mkdir(parents=True)
    onnx_path = folder / MODEL_FILENAME
    write_onnx(onnx_path)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    card = ModelCard(
        name=name,
        version=1,
        task=task,
        architecture=architecture,
        description="generated by benchmarks.workloads with random weights, for timing only",
        inputs=[graph_spec(arg) for arg in session.get_inputs()],
        outputs=[graph_spec(arg) for arg in session.get_outputs()],
        sequence=sequence,
        sha256=file_sha256(onnx_path),
    )
    card.write(folder / CARD_FILENAME)


def find_workloads(repository: Path, tasks: tuple[str, ...] = ("pose", "forecast")) -> list[Workload]:
    """For each task, the newest version of its first model by name, with inputs made from its card."""
    cards = [
        ModelCard.read(path)
        for path in sorted(repository.glob(f"*/*/{CARD_FILENAME}"))
        if path.parent.name.isdigit() and not path.parent.parent.name.startswith(".")
    ]
    workloads = []
    for task in tasks:
        candidates = [card for card in cards if card.task == task]
        if not candidates:
            raise SystemExit(f"{repository} has no model for task {task!r}; export one or omit --repository")
        first = min(card.name for card in candidates)
        card = max((card for card in candidates if card.name == first), key=lambda card: card.version)
        folder = repository / card.name / str(card.version)
        workloads.append(Workload(card.name, card.version, task, folder, sample_inputs(card)))
    return workloads


def sample_inputs(card: ModelCard, length: int = SEQUENCE_LENGTH, seed: int = 0) -> dict[str, np.ndarray]:
    """Batch-1 uniform inputs ([0, 1) floats, or every value of an 8-bit image type); a dynamic time axis gets
    `length` steps clamped to the card's limits."""
    rng = np.random.default_rng(seed)
    if card.sequence is not None:
        upper = card.sequence.max_input_length or length
        length = min(max(length, card.sequence.min_input_length), upper)
    inputs = {}
    for spec in card.inputs:
        dtype = tensors.numpy_dtype(spec.datatype)
        if dtype.kind != "f" and dtype != np.uint8:
            raise SystemExit(
                f"model {card.name}: input {spec.name} is {spec.datatype}; benchmarks send floats or UINT8"
            )
        shape = [1, *(length if dim == -1 else dim for dim in spec.shape[1:])]
        values = rng.random(shape) if dtype.kind == "f" else rng.integers(0, 256, shape)
        inputs[spec.name] = values.astype(dtype)
    return inputs


def jpeg_photo(size: tuple[int, int], quality: int = 90) -> bytes:
    """A real photograph (scikit-image's astronaut, shipped with the package) resized to (W, H), as a JPEG body.

    A photo rather than noise or a flat colour: JPEG decoding costs depend on the content.
    """
    import io

    from PIL import Image
    from skimage import data

    image = Image.fromarray(data.astronaut()).resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
