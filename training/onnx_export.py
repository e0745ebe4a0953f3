"""Export a registered network to one self-contained ONNX file with the dynamic axes its IOSpec names."""

from __future__ import annotations

import io
import logging
import warnings
from contextlib import redirect_stdout
from pathlib import Path

import onnx
import onnx_ir as ir
import torch
from onnx_ir.passes.common import DeduplicateHashedInitializersPass
from torch.export import Dim

from models.base import PosecastModel, TensorAxes

OPSET_VERSION = 18
EXAMPLE_BATCH = 2  # not 0 or 1, which torch.export would specialize
EXAMPLE_LENGTH = 5

logger = logging.getLogger(__name__)


class ExportError(RuntimeError):
    """The exported graph does not honour the model's declared signature."""


def export_onnx(model: PosecastModel, path: Path) -> Path:
    """Write `model` (in eval mode) to `path` as a single .onnx file; returns the path.

    torch.export runs first on its own so that a dynamic axis the code specializes fails here, loudly, instead of
    torch.onnx.export falling back to a strategy that freezes it; the saved graph is then checked again.
    """
    spec = model.io_spec()
    model = model.eval()
    has_time_axis = any(1 in axes.dynamic for axes in spec.inputs)
    example = model.example_inputs(EXAMPLE_BATCH, EXAMPLE_LENGTH if has_time_axis else None)
    dims: dict[str, Dim] = {}  # one Dim per symbolic name, shared by every input that uses it
    dynamic_shapes = tuple(
        {axis: dims.setdefault(name, Dim(name, max=spec.max_sizes.get(name))) for axis, name in axes.dynamic.items()}
        for axes in spec.inputs
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # The exporter prints progress lines and warns about optional torchvision ops; neither concerns the caller.
    with warnings.catch_warnings(), redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        exported = torch.export.export(model, example, dynamic_shapes=dynamic_shapes, strict=False)
        program = torch.onnx.export(
            exported,
            input_names=[axes.name for axes in spec.inputs],
            output_names=[axes.name for axes in spec.outputs],
            opset_version=OPSET_VERSION,
            dynamo=True,
            external_data=False,
        )
    if program is None:  # only the legacy exporter returns None
        raise ExportError("torch.onnx.export returned no program")
    # Unrolled loops repeat folded constants (e.g. transposed weights) once per step; keep one copy of each.
    # The pass runs on a copy read back from protobuf, whose tensors are contiguous (the pass hashes raw bytes).
    serialized = ir.from_proto(program.model_proto)
    DeduplicateHashedInitializersPass()(serialized)
    graph_model = ir.to_proto(serialized)
    name_dynamic_axes(graph_model, spec.inputs)
    check_dynamic_axes(graph_model, spec.inputs + spec.outputs)
    onnx.save_model(graph_model, str(path))
    logger.info("exported %s to %s", type(model).__name__, path)
    return path


def name_dynamic_axes(graph_model: onnx.ModelProto, inputs: tuple[TensorAxes, ...]) -> None:
    """Rename torch.export's symbols (s0, s41, ...) to the IOSpec's names, e.g. "batch" and "time"."""
    renames: dict[str, str] = {}
    graph_inputs = {value.name: value for value in graph_model.graph.input}
    for axes in inputs:
        dims = graph_inputs[axes.name].type.tensor_type.shape.dim
        renames.update({dims[axis].dim_param: name for axis, name in axes.dynamic.items() if dims[axis].dim_param})
    for value in [*graph_model.graph.input, *graph_model.graph.output, *graph_model.graph.value_info]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in renames:
                dim.dim_param = renames[dim.dim_param]


def check_dynamic_axes(graph_model: onnx.ModelProto, expected: tuple[TensorAxes, ...]) -> None:
    """Raise ExportError when an axis declared dynamic came out with a fixed size."""
    values = {value.name: value for value in [*graph_model.graph.input, *graph_model.graph.output]}
    for axes in expected:
        if axes.name not in values:
            raise ExportError(f"graph has no tensor named {axes.name!r}; it has {sorted(values)}")
        dims = values[axes.name].type.tensor_type.shape.dim
        for axis in axes.dynamic:
            if dims[axis].HasField("dim_value"):
                raise ExportError(
                    f"{axes.name} axis {axis} was declared dynamic but exported with fixed size {dims[axis].dim_value}"
                )
