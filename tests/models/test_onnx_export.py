"""Every registered network exports to one .onnx file that matches torch at several batch sizes and lengths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from models import IOSpec, PosecastModel, TensorAxes, list_models
from tests.models.conftest import as_tuple, has_time_axis, small_model
from training.onnx_export import ExportError, export_onnx

PARITY_TOLERANCE = 1e-4


@pytest.fixture(scope="module", params=list_models())
def exported(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[PosecastModel, Path]:
    name = request.param
    model = small_model(name).eval()
    directory = tmp_path_factory.mktemp(name)
    return model, export_onnx(model, directory / "model.onnx")


def test_export_is_a_single_file_with_named_dynamic_axes(exported: tuple[PosecastModel, Path]) -> None:
    model, path = exported
    assert [p.name for p in path.parent.iterdir()] == ["model.onnx"]  # no external-data side files
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    spec = model.io_spec()
    assert [value.name for value in graph.graph.input] == [axes.name for axes in spec.inputs]
    assert [value.name for value in graph.graph.output] == [axes.name for axes in spec.outputs]
    for value, axes in zip(graph.graph.input, spec.inputs, strict=True):
        dims = value.type.tensor_type.shape.dim
        assert {axis: dims[axis].dim_param for axis in axes.dynamic} == axes.dynamic
    for value in graph.graph.output:
        assert value.type.tensor_type.shape.dim[0].dim_param == "batch"


def test_onnxruntime_matches_torch(exported: tuple[PosecastModel, Path]) -> None:
    model, path = exported
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    lengths = (2, 5, 9) if has_time_axis(model) else (None,)  # 5 is the export length; 2 and 9 are not
    for batch in (1, 5):
        for length in lengths:
            inputs = model.example_inputs(batch, length)
            with torch.no_grad():
                expected = as_tuple(model(*inputs))
            feeds = {axes.name: tensor.numpy() for axes, tensor in zip(model.io_spec().inputs, inputs, strict=True)}
            actual = session.run(None, feeds)
            for want, got in zip(expected, actual, strict=True):
                assert got.shape == tuple(want.shape)
                assert np.isfinite(got).all()
                np.testing.assert_allclose(got, want.numpy(), atol=PARITY_TOLERANCE, rtol=0)


class BatchSpecializingNet(PosecastModel):
    """Reshapes with a hard-coded batch size: an export must refuse to call its batch axis dynamic."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.reshape(2, 4))

    def io_spec(self) -> IOSpec:
        return IOSpec(inputs=(TensorAxes("x"),), outputs=(TensorAxes("y"),), task="regression")

    def example_inputs(self, batch_size: int = 2, length: int | None = None) -> tuple[torch.Tensor, ...]:
        return (torch.randn(batch_size, 4),)


def test_export_fails_loudly_when_a_dynamic_axis_is_frozen(tmp_path: Path) -> None:
    with pytest.raises((ExportError, torch._dynamo.exc.UserError), match="batch"):
        export_onnx(BatchSpecializingNet(), tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()
