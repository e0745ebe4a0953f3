"""Make the PyPI torchvision 0.28.0 wheel import under a CPU-only torch 2.13.

The PyPI wheel's C ops (_C.so) link against libc10_cuda/libtorch_cuda, which the CPU torch lacks, so
torchvision.ops.* ops never get registered and `import torchvision` dies in _meta_registrations
("operator torchvision::nms does not exist"). Only nms/qnms are registered unconditionally there, so we define
those two ops in pure torch before torchvision is imported, then report the ops as present so
torchvision.ops.nms works (greedy NMS, same result as torchvision's). Other C ops (roi_align, deform_conv...) stay
unavailable; YOLO pose does not use them. Import this module before ultralytics / torchvision.
"""

import torch


def _nms(dets: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    if dets.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=dets.device)
    order = scores.argsort(descending=True)
    x1, y1, x2, y2 = dets.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    keep = []
    suppressed = torch.zeros(len(dets), dtype=torch.bool)
    for i in order.tolist():
        if suppressed[i]:
            continue
        keep.append(i)
        xx1 = torch.maximum(x1[i], x1)
        yy1 = torch.maximum(y1[i], y1)
        xx2 = torch.minimum(x2[i], x2)
        yy2 = torch.minimum(y2[i], y2)
        inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
        iou = inter / (areas[i] + areas - inter)
        suppressed |= iou > iou_threshold
    return torch.tensor(keep, dtype=torch.long, device=dets.device)


_lib = torch.library.Library("torchvision", "FRAGMENT")
_lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
_lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
_lib.impl("nms", _nms, "CPU")

import torchvision  # noqa: E402
import torchvision.extension  # noqa: E402

torchvision.extension._has_ops = lambda: True
