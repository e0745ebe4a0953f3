"""Pose tasks: one image -> keypoints (`pose`), or a frame sequence -> keypoints of its last frame (`sequence_pose`).

Both train with MSE on [0, 1] image coordinates masked by visibility, plus a small MSE term that teaches the
confidence output to predict "visible", and a heatmap term: the cross-entropy of each joint's spatial softmax
against a Gaussian at its label (in the spirit of DSNT's regularizer, Nibali et al. 2018). The coordinate MSE
alone leaves the softmax free to spread; shaping it took the demo pose_cnn from PCK@0.05 = 0.18 to 0.70 in the
same 4 epochs (README, "The demo models"). Both report PCK in pixels with the mean-pose baseline beside it.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset, TensorDataset

from evaluation.baselines import mean_pose
from evaluation.keypoints import COCO_KEYPOINT_NAMES, COCO_SKELETON, VISIBILITY_VISIBLE
from evaluation.task_reports import heldout_style_report, pose_report
from modelcard.letterbox import PAD_RGB
from models import PosecastModel
from training.config import TrainConfig
from training.data.augment import AugmentConfig
from training.data.coco import load_coco_keypoints
from training.data.heldout_style import heldout_batch
from training.data.motion import MotionConfig, motion_frames
from training.data.splits import split_indices
from training.data.synthetic_pose import PoseConfig, pose_batch
from training.tasks.base import Arrays, Predictor, Task, TaskData, predict_in_batches

LETTERBOX_PAD = PAD_RGB[0] / 255  # the card's pad_value, in the [0, 1] units of the model input

PartArrays = tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32], npt.NDArray[np.uint8]]
Parts = dict[str, PartArrays]


def _nchw(images: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """(N, H, W, 3) -> (N, 3, H, W), contiguous, still uint8 (4x less memory than float until a batch is used)."""
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2))


def gaussian_heatmaps(keypoints: torch.Tensor, size: tuple[int, int], sigma: float) -> torch.Tensor:
    """(B, K, h*w) distributions: a Gaussian of `sigma` heatmap cells at each [0, 1] keypoint, summing to 1."""
    height, width = size
    xs = (torch.arange(width, dtype=keypoints.dtype, device=keypoints.device) + 0.5) / width  # cell centres
    ys = (torch.arange(height, dtype=keypoints.dtype, device=keypoints.device) + 0.5) / height
    dx = (xs - keypoints[..., 0:1]) * width  # (B, K, w), in cells
    dy = (ys - keypoints[..., 1:2]) * height  # (B, K, h)
    log_density = -(dy.unsqueeze(-1) ** 2 + dx.unsqueeze(-2) ** 2) / (2 * sigma**2)  # (B, K, h, w)
    return log_density.flatten(2).softmax(dim=-1)  # normalized even when the point lies off the grid


def heatmap_cross_entropy(
    heatmap_logits: torch.Tensor, keypoints: torch.Tensor, labelled: torch.Tensor, sigma: float
) -> torch.Tensor:
    """Mean over labelled joints of H(Gaussian target, spatial softmax of the logits)."""
    height, width = heatmap_logits.shape[-2:]
    target = gaussian_heatmaps(keypoints, (height, width), sigma)
    cross_entropy = -(target * heatmap_logits.flatten(2).log_softmax(dim=-1)).sum(-1)  # (B, K)
    return (cross_entropy * labelled).sum() / labelled.sum().clamp(min=1)


@dataclass(frozen=True)
class KeypointLoss:
    """Coordinate MSE + confidence_weight x confidence MSE + heatmap_weight x heatmap cross-entropy."""

    confidence_weight: float = 0.01
    heatmap_weight: float = 0.2  # 0 trains on the coordinates alone
    heatmap_sigma: float = 0.5  # of the Gaussian targets, in heatmap cells (a cell is 4 input pixels)

    def __call__(
        self, outputs: tuple[torch.Tensor, ...], keypoints: torch.Tensor, visibility: torch.Tensor
    ) -> torch.Tensor:
        predicted, confidence = outputs[:2]
        labelled = (visibility > 0).to(predicted.dtype)  # (B, K)
        squared_error = ((predicted - keypoints) ** 2).sum(-1)  # (B, K)
        coordinate_mse = (squared_error * labelled).sum() / (labelled.sum() * 2).clamp(min=1)
        visible = (visibility == VISIBILITY_VISIBLE).to(confidence.dtype)
        loss = coordinate_mse + self.confidence_weight * ((confidence - visible) ** 2).mean()
        if self.heatmap_weight > 0:
            heatmaps = heatmap_cross_entropy(outputs[2], keypoints, labelled, self.heatmap_sigma)
            loss = loss + self.heatmap_weight * heatmaps
        return loss


class _KeypointTask(Task):
    """What `pose` and `sequence_pose` share: loss, PCK evaluation, card fields."""

    def __init__(self, **loss: float) -> None:
        self.keypoint_loss = KeypointLoss(**loss)

    def loss(self, model: PosecastModel, batch: list[torch.Tensor]) -> torch.Tensor:
        inputs, keypoints, visibility = batch
        # Pixels stay uint8 all the way: the models scale them in their first layer (PixelNormalize).
        outputs = model(inputs, return_heatmaps=self.keypoint_loss.heatmap_weight > 0)
        return self.keypoint_loss(outputs, keypoints, visibility)

    def evaluate(self, predict: Predictor, test: Arrays, extra: dict[str, Any]) -> dict[str, Any]:
        height, width = test["inputs"].shape[-2:]
        scale = np.array([width, height], np.float32)  # [0, 1] -> pixels of the model input
        predicted, _ = predict_in_batches(predict, self.test_inputs(test))
        mean = np.asarray(extra["mean_pose"]) * scale
        report = pose_report(predicted * scale, test["keypoints"] * scale, test["visibility"], mean)
        if "heldout_inputs" in test:
            heldout, _ = predict_in_batches(predict, [test["heldout_inputs"]])
            truth, flags = test["heldout_keypoints"] * scale, test["heldout_visibility"]
            report |= heldout_style_report(heldout * scale, truth, flags)
        return report

    def headline(self, metrics: dict[str, Any]) -> dict[str, float]:
        row = {f"PCK@{k}": v for k, v in metrics["pck"]["pck"].items()}
        row |= {f"mean-pose PCK@{k}": v for k, v in metrics["baselines"]["mean_pose"]["pck"]["pck"].items()}
        row |= {f"occluded PCK@{k}": v for k, v in metrics["pck_occluded"]["pck"].items()}
        if "pck_heldout_style" in metrics:
            row |= {f"held-out style PCK@{k}": v for k, v in metrics["pck_heldout_style"]["pck"].items()}
        return row

    def test_inputs(self, test: Arrays) -> list[npt.NDArray[np.float32]]:
        return [test["inputs"]]

    @abstractmethod
    def _parts(self, config: TrainConfig, parts: tuple[str, ...]) -> Parts:
        """(pixels uint8 channels-first, keypoints in [0, 1], visibility) for each requested split part."""

    def prepare(self, config: TrainConfig) -> TaskData:
        parts = self._parts(config, ("train", "val", "test"))
        _, train_keypoints, train_visibility = parts["train"]

        def dataset(part: str) -> Dataset[Any]:
            return TensorDataset(*(torch.from_numpy(array) for array in parts[part]))  # pixels stay uint8

        return TaskData(
            train=dataset("train"),
            val=dataset("val"),
            test=self._test_arrays(parts["test"]) | self._heldout_arrays(config),
            extra={"mean_pose": mean_pose(train_keypoints, train_visibility).tolist()},
        )

    def test_split(self, config: TrainConfig) -> Arrays:
        return self._test_arrays(self._parts(config, ("test",))["test"]) | self._heldout_arrays(config)

    def _heldout_arrays(self, config: TrainConfig) -> Arrays:
        """Test images of another renderer (`heldout_style`), where the task and the config ask for them."""
        return {}

    def _test_arrays(self, part: PartArrays) -> Arrays:
        pixels, keypoints, visibility = part
        return {"inputs": self.graph_pixels(pixels), "keypoints": keypoints, "visibility": visibility}

    def graph_pixels(self, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[Any]:
        """Pixels as the exported graph takes them: floats in [0, 1] (sequence models)."""
        return pixels.astype(np.float32) / 255.0

    def card_fields(self, config: TrainConfig, model: PosecastModel, extra: dict[str, Any]) -> dict[str, Any]:
        model_config = getattr(model, "config")  # noqa: B009  (every pose model has one)
        return {
            "preprocessing": {
                "input_size": tuple(model_config.input_size),
                "resize": "letterbox",
                "pad_value": LETTERBOX_PAD,
                "mean": list(model_config.pixel_mean),
                "std": list(model_config.pixel_std),
            },
            "keypoint_names": list(COCO_KEYPOINT_NAMES),
            "skeleton": [list(edge) for edge in COCO_SKELETON],
        }


class PoseTask(_KeypointTask):
    card_task = "pose"

    def graph_pixels(self, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[Any]:
        """A pose_cnn graph takes uint8 pixels as they are (models/pose_cnn.py, PixelNormalize)."""
        return pixels

    def _heldout_arrays(self, config: TrainConfig) -> Arrays:
        """`data.heldout_samples` images of the evaluation-only renderer: does the model generalize past its own?"""
        if config.data.kind != "synthetic_pose" or config.data.heldout_samples <= 0:
            return {}
        size = tuple(config.model_args.get("input_size", (128, 128)))
        batch = heldout_batch((size[0], size[1]), config.data.heldout_samples)
        return {
            "heldout_inputs": self.graph_pixels(_nchw(batch.images)),
            "heldout_keypoints": batch.keypoints * np.array([1 / size[1], 1 / size[0]], np.float32),
            "heldout_visibility": batch.visibility,
        }

    def _parts(self, config: TrainConfig, parts: tuple[str, ...]) -> Parts:
        """(images (N, H, W, 3) uint8, keypoints in [0, 1], visibility) for each requested split part.

        Generated people are drawn only for the requested indices: sample i depends on (seed, i) alone.
        """
        data = config.data
        size = tuple(config.model_args.get("input_size", (128, 128)))
        scale = np.array([1 / size[1], 1 / size[0]], np.float32)  # pixels -> [0, 1]
        if data.kind == "synthetic_pose":
            split = split_indices(data.num_samples, data.fractions, seed=data.seed)
            generator = PoseConfig(image_size=size, **data.options)
            augment = None if data.augment is None else AugmentConfig(**data.augment)
            batches = {
                part: pose_batch(data.seed, getattr(split, part), generator, None if part == "test" else augment)
                for part in parts
            }
            return {part: (_nchw(b.images), b.keypoints * scale, b.visibility) for part, b in batches.items()}
        if data.kind == "coco":
            if not data.path or not data.images:
                raise ValueError("data.kind = 'coco' needs data.path (annotation JSON) and data.images (folder)")
            people = load_coco_keypoints(data.path, data.images, input_size=size)
            split = split_indices(len(people.images), data.fractions, seed=data.seed)
            rows = {part: getattr(split, part) for part in parts}
            return {
                part: (_nchw(people.images[r]), people.keypoints[r] * scale, people.visibility[r])
                for part, r in rows.items()
            }
        raise ValueError(f"pose models train on data.kind 'synthetic_pose' or 'coco', not {data.kind!r}")


class SequencePoseTask(_KeypointTask):
    card_task = "sequence_pose"

    def _parts(self, config: TrainConfig, parts: tuple[str, ...]) -> Parts:
        """(frames (N, T, 3, H, W) uint8, last-frame keypoints in [0, 1], last-frame visibility) per part."""
        data = config.data
        if data.kind != "motion_frames":
            raise ValueError(f"sequence pose models train on data.kind 'motion_frames', not {data.kind!r}")
        size = tuple(config.model_args.get("input_size", (128, 128)))
        scale = np.array([1 / size[1], 1 / size[0]], np.float32)
        motion = MotionConfig(num_frames=data.input_length, image_size=size, **data.options)
        split = split_indices(data.num_samples, data.fractions, seed=data.seed)
        result: Parts = {}
        for part in parts:
            sequences = [motion_frames(data.seed, int(i), motion) for i in getattr(split, part)]
            frames = np.ascontiguousarray(np.stack([s.frames for s in sequences]).transpose(0, 1, 4, 2, 3))
            keypoints = np.stack([s.keypoints[-1] for s in sequences]).astype(np.float32) * scale
            result[part] = (frames, keypoints, np.stack([s.visibility[-1] for s in sequences]))
        return result

    def card_fields(self, config: TrainConfig, model: PosecastModel, extra: dict[str, Any]) -> dict[str, Any]:
        height, width = tuple(getattr(model, "config").input_size)  # noqa: B009
        return super().card_fields(config, model, extra) | {
            "sequence": {"min_input_length": 1, "feature_shape": [3, height, width]}
        }
