# ruff: noqa: I001  (tv_shim must be imported before ultralytics and torchvision)
"""Served (posecast, imported YOLO11n-pose) vs by hand (onnxruntime on the raw Ultralytics export, and
Ultralytics' own predict on the .pt) on the same person crops; OKS against the hand labels of ../photo_oks.py.

Usage (a server on PORT serving the imported model): venv/bin/python compare.py [PORT]
Writes results.json next to this file.
"""

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(HERE / "yolocfg"))
sys.path.insert(0, str(HERE.parents[1]))  # the repository root: posecast's modules
sys.path.insert(0, str(HERE.parent))  # photo_oks: the people and their hand labels

import tv_shim  # noqa: F401,E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from ultralytics import YOLO  # noqa: E402

from evaluation.keypoints import COCO_KEYPOINT_NAMES  # noqa: E402
from modelcard.letterbox import letterbox_image, person_box  # noqa: E402
from photo_oks import K, PEOPLE, SWAP, composite, oks, served  # noqa: E402

torch.set_num_threads(1)
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
URL = f"http://127.0.0.1:{PORT}"
SIZE = (256, 192)  # (H, W) of the import
PADDING = 1.25
FILL = (114, 114, 114)
composite.save(HERE / "two_people.png")


# ---- by hand ------------------------------------------------------------------------------------------------
raw = ort.InferenceSession(str(HERE / "yolo11n-pose-raw-256x192.onnx"), providers=["CPUExecutionProvider"])
yolo = YOLO(str(HERE / "weights" / "yolo11n-pose.pt"))


def ort_keypoints(pixels):
    """(H, W, 3) uint8 RGB crop -> (17, 2) input px (pixel index, as the model's COCO-trained labels) + conf."""
    x = (pixels.astype(np.float32) / 255).transpose(2, 0, 1)[None]
    out = raw.run(None, {raw.get_inputs()[0].name: x})[0][0]  # (56, N)
    best = out[4].argmax()
    kp = out[5:, best].reshape(K, 3)
    return kp[:, :2].astype(np.float64), kp[:, 2], float(out[4, best])


def ultralytics_keypoints(pixels):
    result = yolo.predict(np.ascontiguousarray(pixels[..., ::-1]), imgsz=SIZE, conf=0.001, device="cpu", verbose=False)[
        0
    ]
    best = int(result.boxes.conf.argmax())
    data = result.keypoints.data[best].numpy()
    return data[:, :2].astype(np.float64), data[:, 2], float(result.boxes.conf[best])


def by_hand(runner, image, box, flip):
    region = person_box(box, SIZE, PADDING)
    pixels, mapping = letterbox_image(image, SIZE, region, fill=FILL)
    points, conf, det = runner(pixels)
    points = points + 0.5  # pixel index -> continuous
    if flip:
        m_points, m_conf, _ = runner(np.ascontiguousarray(pixels[:, ::-1]))
        m_points = m_points + 0.5
        back = m_points[SWAP].copy()
        back[:, 0] = SIZE[1] - back[:, 0]
        points, conf = (points + back) / 2, (conf + m_conf[SWAP]) / 2
    return mapping.to_source(points), conf, det, mapping


results = {}
for flip in (False, True):
    got = served(URL, "yolo11n-pose", flip, boxed=True)
    for (name, image, box, label_points, label_flags, label_area), (s_points, s_conf) in zip(PEOPLE, got, strict=True):
        h_points, h_conf, det, mapping = by_hand(ort_keypoints, image, box, flip)
        u_points, u_conf, u_det, _ = by_hand(ultralytics_keypoints, image, box, flip)
        all_flags = np.full(K, 2)
        box_area = box[2] * box[3]
        row = {
            "box": [round(v, 2) for v in box],
            "crop_scale_image_to_input": round(mapping.scale, 4),
            "person_conf_onnx": round(det, 4),
            "person_conf_ultralytics": round(u_det, 4),
            "served_vs_onnx_by_hand": {
                "max_px": float(np.abs(s_points - h_points).max()),
                "mean_px": float(np.linalg.norm(s_points - h_points, axis=1).mean()),
                "max_conf_diff": float(np.abs(s_conf - h_conf).max()),
                "oks": oks(s_points, h_points, all_flags, box, box_area),
            },
            "served_vs_ultralytics_predict": {
                "max_px": float(np.abs(s_points - u_points).max()),
                "mean_px": float(np.linalg.norm(s_points - u_points, axis=1).mean()),
                "max_conf_diff": float(np.abs(s_conf - u_conf).max()),
                "oks": oks(s_points, u_points, all_flags, box, box_area),
            },
            "oks_vs_hand_labels": {
                "served": oks(s_points, label_points, label_flags, box, label_area),
                "ultralytics_predict": oks(u_points, label_points, label_flags, box, label_area),
            },
            "labelled_px_error_served": {
                COCO_KEYPOINT_NAMES[k]: round(float(np.linalg.norm(s_points[k] - label_points[k])), 1)
                for k in np.flatnonzero(label_flags)
            },
            "served_keypoints": [
                [round(float(x), 2), round(float(y), 2), round(float(c), 3)]
                for (x, y), c in zip(s_points, s_conf, strict=True)
            ],
        }
        results[f"{name} flip={flip}"] = row
        print(
            f"{name:32s} flip={flip!s:5s} served-vs-onnx max {row['served_vs_onnx_by_hand']['max_px']:.4f} px "
            f"mean {row['served_vs_onnx_by_hand']['mean_px']:.4f} OKS {row['served_vs_onnx_by_hand']['oks']:.5f} | "
            f"vs ultralytics max {row['served_vs_ultralytics_predict']['max_px']:.4f} "
            f"mean {row['served_vs_ultralytics_predict']['mean_px']:.4f} "
            f"OKS {row['served_vs_ultralytics_predict']['oks']:.5f} | "
            f"OKS vs labels served {row['oks_vs_hand_labels']['served']:.4f} "
            f"ultra {row['oks_vs_hand_labels']['ultralytics_predict']:.4f}"
        )
(HERE / "results.json").write_text(json.dumps(results, indent=1))
