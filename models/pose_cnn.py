"""Pose CNN: image -> K keypoints through heatmaps and a differentiable soft-argmax (integral regression).

The soft-argmax turns each heatmap into the expectation of a spatial softmax, so the network trains with MSE on
coordinates and still localizes below the heatmap's cell size. Training may also ask for the heatmap logits
(`return_heatmaps=True`) to shape each softmax around its joint, which makes the coordinates converge much faster;
the exported graph never returns them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from models.base import IOSpec, PosecastModel, TensorAxes
from models.registry import register_model


@dataclass
class PoseCNNConfig:
    num_keypoints: int = 17  # K, COCO-17 order by default
    input_size: tuple[int, int] = (128, 128)  # (H, W) of the letterboxed RGB input
    widths: list[int] = field(default_factory=lambda: [32, 64, 128, 256])  # channels at strides 2, 4, 8, 16
    dropout: float = 0.1  # dropout on the decoder features before the heads
    pixel_mean: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])  # normalization inside the graph
    pixel_std: list[float] = field(default_factory=lambda: [0.25, 0.25, 0.25])


def conv_bn_relu(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class PoseBackbone(nn.Module):
    """Encoder down to stride 16, then a U-Net style decoder back to stride 4 with skip connections."""

    def __init__(self, in_channels: int, widths: list[int]) -> None:
        super().__init__()
        if len(widths) != 4:
            raise ValueError(f"widths needs 4 entries (strides 2, 4, 8, 16), got {widths}")
        self.stages = nn.ModuleList()
        channels = in_channels
        for width in widths:
            self.stages.append(nn.Sequential(conv_bn_relu(channels, width, stride=2), conv_bn_relu(width, width)))
            channels = width
        # Decoder: stride 16 -> 8 -> 4, each step upsamples and fuses the encoder feature of that stride.
        self.fuse8 = conv_bn_relu(widths[3] + widths[2], widths[2])
        self.fuse4 = conv_bn_relu(widths[2] + widths[1], widths[1])
        self.out_channels = widths[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = []
        for stage in self.stages:
            x = stage(x)
            features.append(x)
        _, s4, s8, s16 = features
        x = self.fuse8(torch.cat([F.interpolate(s16, size=s8.shape[-2:], mode="nearest"), s8], dim=1))
        x = self.fuse4(torch.cat([F.interpolate(x, size=s4.shape[-2:], mode="nearest"), s4], dim=1))
        return x  # (B, widths[1], H/4, W/4)


def soft_argmax(heatmap_logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Expected (x, y) of a spatial softmax, in [0, 1] image coordinates with pixel centres at (j + 0.5) / w.

    Returns the coordinates (B, K, 2) and the softmax weights (B, K, h*w) for pooling other maps.
    """
    h, w = heatmap_logits.shape[-2:]
    weights = heatmap_logits.flatten(2).softmax(dim=-1)  # (B, K, h*w)
    xs = (torch.arange(w, dtype=weights.dtype, device=weights.device) + 0.5) / w
    ys = (torch.arange(h, dtype=weights.dtype, device=weights.device) + 0.5) / h
    grid_x = xs.repeat(h)  # (h*w,) x of each cell, row-major
    grid_y = ys.repeat_interleave(w)  # (h*w,)
    coords = torch.stack([weights @ grid_x, weights @ grid_y], dim=-1)  # (B, K, 2)
    return coords, weights


class KeypointHead(nn.Module):
    """Heatmap logits -> soft-argmax coordinates, and a visibility map pooled where each keypoint lands.

    Returns (coordinates (B, K, 2), confidence (B, K)), plus the heatmap logits (B, K, h, w) when asked.
    """

    def __init__(self, in_channels: int, num_keypoints: int, dropout: float) -> None:
        super().__init__()
        self.dropout = nn.Dropout2d(dropout)
        self.heatmaps = nn.Conv2d(in_channels, num_keypoints, 1)
        self.visibility = nn.Conv2d(in_channels, num_keypoints, 1)

    def forward(self, features: torch.Tensor, return_heatmaps: bool = False) -> tuple[torch.Tensor, ...]:
        features = self.dropout(features)
        heatmap_logits = self.heatmaps(features)
        coords, weights = soft_argmax(heatmap_logits)
        confidence = torch.sigmoid((weights * self.visibility(features).flatten(2)).sum(-1))  # (B, K)
        return (coords, confidence, heatmap_logits) if return_heatmaps else (coords, confidence)


class PixelNormalize(nn.Module):
    """(x - mean) / std per channel, kept in the graph so clients send plain RGB: uint8 pixels (0-255), or floats in
    [0, 1]. uint8 is what an exported pose_cnn takes, as image models served by Triton usually do: a quarter of the
    bytes of float32 on the wire, and no normalisation to get wrong on the client."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: list[float], std: list[float]) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        return (x - self.mean) / self.std


class PoseCNN(PosecastModel):
    """RGB image (B, 3, H, W), uint8 (the exported graph's input) or floats in [0, 1] -> keypoints (B, K, 2) in
    [0, 1] image coordinates, confidence (B, K)."""

    def __init__(self, config: PoseCNNConfig) -> None:
        super().__init__()
        self.config = config
        self.normalize = PixelNormalize(config.pixel_mean, config.pixel_std)
        self.backbone = PoseBackbone(3, config.widths)
        self.head = KeypointHead(self.backbone.out_channels, config.num_keypoints, config.dropout)

    def forward(self, image: torch.Tensor, return_heatmaps: bool = False) -> tuple[torch.Tensor, ...]:
        return self.head(self.backbone(self.normalize(image)), return_heatmaps)

    def io_spec(self) -> IOSpec:
        return IOSpec(
            inputs=(TensorAxes("image"),),
            outputs=(TensorAxes("keypoints"), TensorAxes("confidence")),
            task="pose",
        )

    def example_inputs(self, batch_size: int = 2, length: int | None = None) -> tuple[torch.Tensor, ...]:
        return (torch.randint(0, 256, (batch_size, 3, *self.config.input_size), dtype=torch.uint8),)


@register_model("pose_cnn")
def pose_cnn(**kwargs: object) -> PoseCNN:
    return PoseCNN(PoseCNNConfig(**kwargs))  # type: ignore[arg-type]
