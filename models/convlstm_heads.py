"""The two networks built on the ConvLSTM stack: a frame forecaster and a sequence-to-keypoints model."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from models.base import IOSpec, PosecastModel, TensorAxes
from models.convlstm import CellState, ConvLSTM, ConvLSTMCell
from models.pose_cnn import KeypointHead, PixelNormalize, PoseBackbone
from models.registry import register_model

SEQUENCE_AXES = {0: "batch", 1: "time"}


@dataclass
class ConvLSTMForecasterConfig:
    frame_channels: int = 1  # C of each frame, values in [0, 1]
    frame_size: tuple[int, int] = (64, 64)  # (H, W) of each frame
    patch_size: int = 4  # space-to-depth factor: the recurrence runs on (C*p*p, H/p, W/p) as in Shi et al.
    hidden_channels: list[int] = field(default_factory=lambda: [64, 64])  # one entry per stacked layer
    kernel_size: int = 5  # odd, the receptive field of each gate's convolution
    horizon: int = 10  # N frames the forecaster emits; callers may keep fewer (the rollout is causal)
    bidirectional: bool = False  # encoder direction; the forecaster itself always runs forward in time


class ConvLSTMForecaster(PosecastModel):
    """Encoder-forecaster: M frames (B, M, C, H, W) -> the next N frames (B, N, C, H, W).

    The encoder's final states initialize the forecaster stack, which feeds each predicted frame back as its next
    input, starting from the last observed frame.
    """

    def __init__(self, config: ConvLSTMForecasterConfig) -> None:
        super().__init__()
        height, width = config.frame_size
        if height % config.patch_size or width % config.patch_size:
            raise ValueError(f"frame_size {config.frame_size} must be divisible by patch_size {config.patch_size}")
        self.config = config
        grid = (height // config.patch_size, width // config.patch_size)
        patch_channels = config.frame_channels * config.patch_size**2
        self.encoder = ConvLSTM(patch_channels, config.hidden_channels, config.kernel_size, grid, config.bidirectional)
        self.forecaster = nn.ModuleList()
        channels = patch_channels
        for hidden in config.hidden_channels:
            hidden *= self.encoder.num_directions  # the forecaster continues from the encoder's concatenated state
            self.forecaster.append(ConvLSTMCell(channels, hidden, config.kernel_size, grid))
            channels = hidden
        total_hidden = sum(config.hidden_channels) * self.encoder.num_directions
        self.output = nn.Conv2d(total_hidden, patch_channels, 1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        batch, time = frames.shape[:2]
        patches = F.pixel_unshuffle(frames.flatten(0, 1), self.config.patch_size)  # (B*M, C*p*p, H/p, W/p)
        patches = patches.unflatten(0, (batch, time))  # (B, M, C*p*p, H/p, W/p)
        _, states = self.encoder(patches)
        previous = patches[:, -1]
        predictions = []
        for _ in range(self.config.horizon):
            states = self._forecast_step(previous, states)
            previous = torch.sigmoid(self.output(torch.cat([h for h, _ in states], dim=1)))
            predictions.append(F.pixel_shuffle(previous, self.config.patch_size))  # (B, C, H, W)
        return torch.stack(predictions, dim=1)  # (B, N, C, H, W)

    def _forecast_step(self, x: torch.Tensor, states: list[CellState]) -> list[CellState]:
        new_states = []
        for cell, state in zip(self.forecaster, states, strict=True):
            state = cell(x, state)
            new_states.append(state)
            x = state[0]
        return new_states

    def io_spec(self) -> IOSpec:
        return IOSpec(
            inputs=(TensorAxes("frames", SEQUENCE_AXES),),
            outputs=(TensorAxes("forecast"),),
            task="frames",
        )

    def example_inputs(self, batch_size: int = 2, length: int | None = None) -> tuple[torch.Tensor, ...]:
        shape = (batch_size, length or 10, self.config.frame_channels, *self.config.frame_size)
        return (torch.rand(shape),)


@dataclass
class ConvLSTMPoseConfig:
    num_keypoints: int = 17  # K, COCO-17 order by default
    input_size: tuple[int, int] = (128, 128)  # (H, W) of each RGB frame in [0, 1]
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])  # per-frame backbone, as in PoseCNN
    hidden_channels: list[int] = field(default_factory=lambda: [64])  # ConvLSTM layers over the stride-4 features
    kernel_size: int = 3  # odd
    bidirectional: bool = False
    dropout: float = 0.1  # before the keypoint head
    pixel_mean: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    pixel_std: list[float] = field(default_factory=lambda: [0.25, 0.25, 0.25])


class ConvLSTMPose(PosecastModel):
    """Frames (B, T, 3, H, W) -> keypoints (B, K, 2) and confidence (B, K) of the last frame.

    A per-frame CNN feeds a ConvLSTM, so a joint hidden in the last frame can be placed from earlier frames. The
    head reads the last frame's own features plus a 1x1 projection of the ConvLSTM's final state: the recurrence
    adds what the earlier frames know to a single-frame pose model instead of replacing it. The projection starts
    near zero, so a model initialized from a trained `pose_cnn` (`init_from`) starts as that model.
    """

    def __init__(self, config: ConvLSTMPoseConfig) -> None:
        super().__init__()
        self.config = config
        self.normalize = PixelNormalize(config.pixel_mean, config.pixel_std)
        self.backbone = PoseBackbone(3, config.widths)
        grid = (config.input_size[0] // 4, config.input_size[1] // 4)
        self.recurrence = ConvLSTM(
            self.backbone.out_channels, config.hidden_channels, config.kernel_size, grid, config.bidirectional
        )
        self.temporal = nn.Conv2d(self.recurrence.out_channels, self.backbone.out_channels, 1)
        nn.init.normal_(self.temporal.weight, std=1e-3)
        nn.init.zeros_(self.temporal.bias)  # type: ignore[arg-type]  # Conv2d has a bias unless bias=False
        self.head = KeypointHead(self.backbone.out_channels, config.num_keypoints, config.dropout)

    def forward(self, frames: torch.Tensor, return_heatmaps: bool = False) -> tuple[torch.Tensor, ...]:
        batch, time = frames.shape[:2]
        features = self.backbone(self.normalize(frames.flatten(0, 1))).unflatten(0, (batch, time))  # (B, T, C, h, w)
        # The last layer's final H: the forward direction after the last frame and, when bidirectional, the
        # backward direction after reading the whole sequence back to the first frame.
        _, final_states = self.recurrence(features)
        return self.head(features[:, -1] + self.temporal(final_states[-1][0]), return_heatmaps)

    def io_spec(self) -> IOSpec:
        return IOSpec(
            inputs=(TensorAxes("frames", SEQUENCE_AXES),),
            outputs=(TensorAxes("keypoints"), TensorAxes("confidence")),
            task="sequence_pose",
        )

    def example_inputs(self, batch_size: int = 2, length: int | None = None) -> tuple[torch.Tensor, ...]:
        return (torch.rand(batch_size, length or 4, 3, *self.config.input_size),)


@register_model("convlstm_forecaster")
def convlstm_forecaster(**kwargs: object) -> ConvLSTMForecaster:
    return ConvLSTMForecaster(ConvLSTMForecasterConfig(**kwargs))  # type: ignore[arg-type]


@register_model("convlstm_pose")
def convlstm_pose(**kwargs: object) -> ConvLSTMPose:
    return ConvLSTMPose(ConvLSTMPoseConfig(**kwargs))  # type: ignore[arg-type]
