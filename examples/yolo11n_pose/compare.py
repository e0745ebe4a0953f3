# ruff: noqa: I001  (tv_shim must be imported before ultralytics and torchvision)
"""Served (posecast, imported YOLO11n-pose) vs by hand (onnxruntime on the raw Ultralytics export, and
Ultralytics' own predict on the .pt) on the same person crops; OKS against hand labels of the astronaut.

Usage (a server on PORT serving the imported model): venv/bin/python compare.py [PORT]
Writes results.json next to this file.
"""

import base64
import io
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_CONFIG_DIR", str(HERE / "yolocfg"))
sys.path.insert(0, str(HERE.parents[1]))  # the repository root: posecast's modules

import tv_shim  # noqa: F401,E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402
from skimage import data as skdata  # noqa: E402
from ultralytics import YOLO  # noqa: E402

from evaluation.keypoint_ap import compute_oks  # noqa: E402
from evaluation.keypoints import COCO_KEYPOINT_NAMES  # noqa: E402
from modelcard.letterbox import letterbox_image, person_box  # noqa: E402

torch.set_num_threads(1)
PORT = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
URL = f"http://127.0.0.1:{PORT}/v1/models/yolo11n-pose/pose"
SIZE = (256, 192)  # (H, W) of the import
PADDING = 1.25
FILL = (114, 114, 114)
K = 17
PAIRS = [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16)]
SWAP = np.arange(K)
for a, b in PAIRS:
    SWAP[a], SWAP[b] = b, a

# Hand labels of skimage's astronaut (image pixels, continuous), index into COCO-17.
LABELS = {
    "nose": (225, 131),
    "left_eye": (248, 103),
    "right_eye": (201, 101),
    "left_ear": (271, 116),
    "right_ear": (180, 114),
    "left_shoulder": (325, 262),
    "right_shoulder": (95, 240),
    "right_elbow": (40, 400),
}
ASTRO_BOX = (20.0, 15.0, 350.0, 497.0)
ASTRO_AREA = 350 * 497 * 0.53


def hand_labels(transform=lambda p: p, mirrored=False):
    points, flags = np.zeros((K, 2)), np.zeros(K, np.int64)
    for name, xy in LABELS.items():
        k = COCO_KEYPOINT_NAMES.index(name)
        if mirrored:  # a mirrored person: her left eye is now on the image's other side and reads as "right"
            k = SWAP[k]
        points[k], flags[k] = transform(np.asarray(xy, float)), 2
    return points, flags


# ---- images -----------------------------------------------------------------------------------------------
astronaut = Image.fromarray(skdata.astronaut())
canvas = Image.new("RGB", (1000, 600), (180, 190, 200))
canvas.paste(astronaut, (0, 44))
small = astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((410, 410), Image.Resampling.LANCZOS)
canvas.paste(small, (560, 100))
s = 410 / 512


def left_t(p):
    return np.add(p, [0, 44])


def right_t(p):
    return np.array([(512 - p[0]) * s + 560, p[1] * s + 100])


x0, y0, w0, h0 = ASTRO_BOX
CASES = [  # name, image, box, label points, flags, label area
    ("astronaut", astronaut, ASTRO_BOX, *hand_labels(), ASTRO_AREA),
    ("two_people/left", canvas, (x0, y0 + 44, w0, h0), *hand_labels(left_t), ASTRO_AREA),
    (
        "two_people/right_mirrored_0.8",
        canvas,
        ((512 - x0 - w0) * s + 560, y0 * s + 100, w0 * s, h0 * s),
        *hand_labels(right_t, mirrored=True),
        ASTRO_AREA * s * s,
    ),
]
canvas.save(HERE / "two_people.png")


def png_b64(image):
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


# ---- served -------------------------------------------------------------------------------------------------
def served(flip):
    body = {
        "images": [png_b64(astronaut), png_b64(canvas)],
        "boxes": [[list(CASES[0][2])], [list(CASES[1][2]), list(CASES[2][2])]],
    }
    reply = httpx.post(URL, json=body, params={"flip": str(flip).lower()}, timeout=120)
    reply.raise_for_status()
    people = [p for result in reply.json()["results"] for p in result["people"]]
    return [
        (np.array([[kp["x"], kp["y"]] for kp in p["keypoints"]]), np.array([kp["confidence"] for kp in p["keypoints"]]))
        for p in people
    ]


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


def oks(pred, ref, flags, box, area):
    return float(
        compute_oks(pred[None], ref[None], flags[None], np.asarray([box], float), np.asarray([area], float))[0, 0]
    )


results = {}
for flip in (False, True):
    got = served(flip)
    for (name, image, box, label_points, label_flags, label_area), (s_points, s_conf) in zip(CASES, got, strict=True):
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
