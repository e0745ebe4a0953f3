"""Pose graphs "trained elsewhere" for the import tests: one torch pose network, exported natively and wrapped in
the input and output conventions of other projects (MoveNet-like NHWC uint8 BGR with (B, 1, K, 3) yx output,
MMPose-like heatmaps behind ImageNet normalisation, SimCC with a fixed batch of 1), with the spec file of each.

Every wrapper computes the same keypoints as the native graph, so served keypoints must agree to what the
decoding itself costs (heatmap cells and SimCC bins of at most half an input pixel).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelcard import Preprocessing, TensorSpec
from tests.service.conftest import _export, add_version

SIZE = (48, 64)  # (H, W)
PAD = 114 / 255
SIMCC_RATIO = 2.0
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
KEYPOINTS = 17

SPECS = {
    "movenet_like": f"""
task = "pose"
description = "NHWC uint8 BGR in, (B, 1, 17, 3) normalised y, x, score out"
[input]
layout = "NHWC"
dtype = "uint8"
channels = "BGR"
pad_value = {PAD}
[output]
format = "coordinates"
order = "yx"
normalized = true
keypoints = "coco17"
""",
    "heatmaps": f"""
task = "pose"
[input]
size = [{SIZE[0]}, {SIZE[1]}]
scale = 0.00392156862745098
mean = {list(IMAGENET_MEAN)}
std = {list(IMAGENET_STD)}
pad_value = {PAD}
[output]
format = "heatmaps"
keypoints = "coco17"
""",
    "stretched": """
task = "pose"
description = "the native graph, each whole image stretched to the input"
[input]
resize = "stretch"
[output]
format = "coordinates"
names = ["keypoints", "confidence"]
keypoints = "coco17"
""",
    "simcc": f"""
task = "pose"
[input]
pad_value = {PAD}
[output]
format = "simcc"
split_ratio = {SIMCC_RATIO}
names = ["simcc_x", "simcc_y"]
keypoints = "coco17"
""",
}


def build(out: Path) -> dict[str, Path]:
    """The native graph and the three wrappers, as .onnx files under `out`."""
    import torch

    from models import create_model

    torch.manual_seed(0)
    height, width = SIZE
    network = create_model("pose_cnn", widths=[4, 8, 8, 8], input_size=SIZE, dropout=0.0).eval()
    spread = torch.rand(KEYPOINTS, 2) * 0.7 + 0.15  # random weights answer near the centre: spread the points

    class Native(torch.nn.Module):
        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            points, confidence = network(image)
            return (points - 0.5) * 0.5 + spread, confidence

    native = Native().eval()

    def pixels(points: torch.Tensor) -> torch.Tensor:
        """Normalised (x, y) -> pixel-index coordinates (continuous minus half a pixel)."""
        return points * torch.tensor([width, height], dtype=torch.float32) - 0.5

    def gaussian(centre: torch.Tensor, bins: int, step: float) -> torch.Tensor:
        """(B, K) centres -> (B, K, bins) with a sharp peak at each, bins `step` pixels apart."""
        positions = torch.arange(bins, dtype=torch.float32) * step
        return torch.exp(-((positions - centre[..., None]) ** 2) / (2 * 0.6**2))

    class MoveNetLike(torch.nn.Module):
        def forward(self, image: torch.Tensor) -> torch.Tensor:
            rgb = image.flip(-1).permute(0, 3, 1, 2).float() / 255.0
            points, confidence = native(rgb)
            return torch.stack([points[..., 1], points[..., 0], confidence], dim=-1).unsqueeze(1)

    class Heatmaps(torch.nn.Module):
        def forward(self, image: torch.Tensor) -> torch.Tensor:
            mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
            std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
            centres = pixels(native(image * std + mean)[0])
            rows = gaussian(centres[..., 1], height, 1.0)  # (B, K, H)
            columns = gaussian(centres[..., 0], width, 1.0)  # (B, K, W)
            return rows[..., :, None] * columns[..., None, :]

    class SimCC(torch.nn.Module):
        def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            centres = pixels(native(image)[0])
            step = 1 / SIMCC_RATIO
            return gaussian(centres[..., 0], int(width * SIMCC_RATIO), step), gaussian(
                centres[..., 1], int(height * SIMCC_RATIO), step
            )

    batch = torch.export.Dim("batch")
    image = torch.rand(2, 3, *SIZE)
    return {
        "native": _export(
            native, image, out / "native.onnx", (["image"], ["keypoints", "confidence"]), {"image": {0: batch}}
        ),
        "movenet_like": _export(
            MoveNetLike(),
            torch.randint(0, 256, (2, *SIZE, 3), dtype=torch.uint8),
            out / "movenet_like.onnx",
            (["input"], ["output_0"]),
            {"image": {0: batch}},
        ),
        "heatmaps": _export(Heatmaps(), image, out / "heatmaps.onnx", (["input"], ["heatmaps"]), {"image": {0: batch}}),
        "simcc": _export(SimCC(), image[:1], out / "simcc.onnx", (["input"], ["simcc_x", "simcc_y"]), None),
        "stretched": out / "native.onnx",
    }


def write_native(root: Path, native: Path) -> Path:
    """The native graph as the exporter would write it (keypoints + confidence, letterboxed RGB in [0, 1])."""
    io: tuple[list[TensorSpec], list[TensorSpec]] = (
        [TensorSpec(name="image", datatype="FP32", shape=[-1, 3, *SIZE])],
        [
            TensorSpec(name="keypoints", datatype="FP32", shape=[-1, KEYPOINTS, 2]),
            TensorSpec(name="confidence", datatype="FP32", shape=[-1, KEYPOINTS]),
        ],
    )
    preprocessing: Any = Preprocessing(input_size=SIZE, resize="letterbox", pad_value=PAD)
    return add_version(root, "native", 1, native, io, preprocessing=preprocessing)
