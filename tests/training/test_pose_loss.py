"""The pose loss: coordinate MSE, the confidence term and the heatmap cross-entropy against Gaussian targets."""

from __future__ import annotations

import pytest
import torch

from models import create_model
from models.pose_cnn import soft_argmax
from training.config import load_config
from training.tasks import task_for
from training.tasks.pose import KeypointLoss, PoseTask, gaussian_heatmaps, heatmap_cross_entropy


def test_gaussian_targets_are_distributions_centred_on_the_keypoint() -> None:
    keypoints = torch.tensor([[[0.31, 0.62], [0.5, 0.5], [0.87, 0.13]]])
    targets = gaussian_heatmaps(keypoints, (32, 24), sigma=1.0)
    assert targets.shape == (1, 3, 32 * 24)
    assert torch.allclose(targets.sum(-1), torch.ones(1, 3))
    centres, _ = soft_argmax(targets.log().view(1, 3, 32, 24))  # the expectation of each target
    assert torch.allclose(centres, keypoints, atol=1e-3)


def test_cross_entropy_is_lowest_for_the_target_itself_and_ignores_unlabelled_joints() -> None:
    keypoints = torch.tensor([[[0.3, 0.6], [0.7, 0.2]]])
    labelled = torch.tensor([[1.0, 0.0]])
    exact = gaussian_heatmaps(keypoints, (16, 16), 1.0).clamp_min(1e-30).log().view(1, 2, 16, 16)
    shifted = exact.roll(2, dims=-1)
    assert heatmap_cross_entropy(exact, keypoints, labelled, 1.0) < heatmap_cross_entropy(
        shifted, keypoints, labelled, 1.0
    )
    changed_unlabelled = exact.clone()
    changed_unlabelled[0, 1] = torch.randn(16, 16)
    assert torch.equal(
        heatmap_cross_entropy(exact, keypoints, labelled, 1.0),
        heatmap_cross_entropy(changed_unlabelled, keypoints, labelled, 1.0),
    )


def test_loss_is_the_weighted_sum_of_its_three_terms() -> None:
    torch.manual_seed(0)
    predicted, confidence = torch.rand(2, 3, 2), torch.rand(2, 3)
    heatmap_logits = torch.randn(2, 3, 8, 8)
    keypoints = torch.rand(2, 3, 2)
    visibility = torch.tensor([[2, 1, 0], [2, 2, 1]], dtype=torch.uint8)
    labelled = (visibility > 0).float()
    coordinates = (((predicted - keypoints) ** 2).sum(-1) * labelled).sum() / (2 * labelled.sum())
    confidences = ((confidence - (visibility == 2).float()) ** 2).mean()
    heatmaps = heatmap_cross_entropy(heatmap_logits, keypoints, labelled, 1.5)
    loss = KeypointLoss(confidence_weight=0.1, heatmap_weight=0.3, heatmap_sigma=1.5)
    total = loss((predicted, confidence, heatmap_logits), keypoints, visibility)
    assert torch.allclose(total, coordinates + 0.1 * confidences + 0.3 * heatmaps)
    without_heatmaps = KeypointLoss(confidence_weight=0.1, heatmap_weight=0.0)(
        (predicted, confidence), keypoints, visibility
    )
    assert torch.allclose(without_heatmaps, coordinates + 0.1 * confidences)


@pytest.mark.parametrize("name", ["pose_cnn", "convlstm_pose"])
def test_pose_models_return_heatmap_logits_only_when_asked(name: str) -> None:
    model = create_model(name, input_size=(32, 32), widths=[4, 8, 8, 8], num_keypoints=5).eval()
    inputs = model.example_inputs(2, 3)
    plain = model(*inputs)
    keypoints, confidence, heatmaps = model(*inputs, return_heatmaps=True)
    assert len(plain) == 2
    assert heatmaps.shape == (2, 5, 8, 8)  # stride 4
    assert torch.equal(keypoints, plain[0])
    assert torch.equal(confidence, plain[1])
    assert torch.allclose(soft_argmax(heatmaps)[0], keypoints)


def test_config_loss_settings_reach_the_task_and_unknown_ones_are_refused() -> None:
    config = load_config(None, ["loss={heatmap_weight=0.2, heatmap_sigma=2.0}"])
    task = task_for("pose", config.loss)
    assert isinstance(task, PoseTask)
    assert task.keypoint_loss == KeypointLoss(heatmap_weight=0.2, heatmap_sigma=2.0)
    with pytest.raises(ValueError, match="heatmap_wieght"):
        task_for("pose", {"heatmap_wieght": 0.2})
    with pytest.raises(ValueError, match="forecast"):
        task_for("forecast", {"heatmap_weight": 0.2})
