"""Every registered network, tested the same way: shapes, finiteness, gradients (after timm's test_models)."""

from __future__ import annotations

import pytest
import torch

from models import create_model, list_models
from tests.models.conftest import as_tuple, has_time_axis, small_model


@pytest.mark.parametrize("name", list_models())
def test_output_shapes_follow_the_io_spec(name: str) -> None:
    model = small_model(name).eval()
    lengths = (3, 6) if has_time_axis(model) else (None,)
    for length in lengths:
        for batch in (1, 3):
            outputs = as_tuple(model(*model.example_inputs(batch, length)))
            assert len(outputs) == len(model.io_spec().outputs)
            for output in outputs:
                assert output.shape[0] == batch
                assert torch.isfinite(output).all()


@pytest.mark.parametrize("name", list_models())
def test_every_parameter_receives_a_gradient(name: str) -> None:
    model = small_model(name).train()
    loss = sum(output.square().mean() for output in as_tuple(model(*model.example_inputs(2, 4))))
    assert isinstance(loss, torch.Tensor)
    loss.backward()
    missing = [
        param_name
        for param_name, param in model.named_parameters()
        if param.grad is None or not torch.isfinite(param.grad).all() or param.grad.abs().sum() == 0
    ]
    assert not missing, f"parameters without a gradient: {missing}"


def test_pose_outputs_are_normalized_coordinates_and_confidences() -> None:
    model = small_model("pose_cnn").eval()
    keypoints, confidence = model(*model.example_inputs(4))
    assert keypoints.shape == (4, 5, 2)
    assert ((keypoints > 0) & (keypoints < 1)).all()
    assert ((confidence > 0) & (confidence < 1)).all()


def test_soft_argmax_recovers_a_subpixel_peak() -> None:
    from models.pose_cnn import soft_argmax

    height, width = 16, 24
    target_x, target_y = 0.4137, 0.5721  # normalized, between cell centres
    ys = (torch.arange(height) + 0.5) / height
    xs = (torch.arange(width) + 0.5) / width
    distance = (ys[:, None] - target_y) ** 2 + (xs[None, :] - target_x) ** 2
    logits = (-distance / 0.01).view(1, 1, height, width)  # a Gaussian about one cell wide, in log space
    coords, weights = soft_argmax(logits)
    assert torch.allclose(weights.sum(-1), torch.ones(1, 1))
    assert torch.allclose(coords, torch.tensor([[[target_x, target_y]]]), atol=1e-3)


def test_forecasts_are_causal_in_the_horizon() -> None:
    """A shorter horizon is a prefix of a longer one, which lets the service serve any horizon up to the limit."""
    model = small_model("convlstm_forecaster").eval()
    (frames,) = model.example_inputs(2, 4)
    with torch.no_grad():
        long = model(frames)
        model.config.horizon = 2
        short = model(frames)
    assert torch.allclose(long[:, :2], short)


def test_sequence_pose_model_starts_as_the_single_frame_model_it_is_initialized_from() -> None:
    """The ConvLSTM only adds to the last frame's features, through a projection that starts near zero."""
    torch.manual_seed(0)
    single = create_model("pose_cnn", input_size=(32, 32), widths=[4, 8, 8, 8], num_keypoints=5).eval()
    with torch.no_grad():
        single.head.heatmaps.weight.normal_(std=100.0)  # peaky heatmaps, so keypoints depend on the image
    sequence = create_model("convlstm_pose", input_size=(32, 32), widths=[4, 8, 8, 8], num_keypoints=5).eval()
    missing, unexpected = sequence.load_state_dict(single.state_dict(), strict=False)
    assert not unexpected
    assert all(name.startswith(("recurrence.", "temporal.")) for name in missing)
    frames = torch.rand(2, 3, 3, 32, 32)
    sequence_keypoints, _ = sequence(frames)
    single_keypoints, _ = single(frames[:, -1])
    assert single_keypoints.std() > 0.05
    assert torch.allclose(sequence_keypoints, single_keypoints, atol=2e-3)
    with torch.no_grad():
        sequence.temporal.weight.normal_(std=0.5)  # once trained, the earlier frames move the answer
    assert not torch.allclose(sequence(frames)[0], single_keypoints, atol=2e-3)
