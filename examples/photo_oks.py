"""OKS of a served pose model against keypoints labelled by eye on real photographs: the check behind the README's
numbers for photographs. The people: scikit-image's astronaut, and a composite of two of her (as she is, and
mirrored at 0.8 scale), each on her box with and without the flip test, and the astronaut as a whole image.

Usage, with a server running: .venv/bin/python examples/photo_oks.py [--url URL] [--model pose_cnn]
Needs scikit-image (in the `make test` environment). examples/yolo11n_pose/compare.py scores the same people.
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import numpy.typing as npt
from PIL import Image
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: posecast's modules
from evaluation.keypoint_ap import compute_oks
from evaluation.keypoints import COCO_KEYPOINT_NAMES, mirrored_pairs

Points = npt.NDArray[np.float64]
Box = tuple[float, float, float, float]

# The astronaut's upper body, labelled by eye in image pixels (continuous); nothing below her elbow is visible
# enough to label. OKS takes the area of what is labelled: her box's, times the share the upper body covers.
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
ASTRONAUT_BOX: Box = (20.0, 15.0, 350.0, 497.0)
LABELLED_AREA = 350 * 497 * 0.53
K = len(COCO_KEYPOINT_NAMES)
SWAP = np.arange(K)  # each keypoint's mirror-image partner (left <-> right)
for _left, _right in mirrored_pairs(COCO_KEYPOINT_NAMES):
    SWAP[_left], SWAP[_right] = _right, _left

ASTRONAUT_OFFSET = (0, 44)  # where the astronaut sits in the composite
MIRRORED_AT, MIRRORED_SCALE = (560, 100), 410 / 512  # and her mirrored, shrunk copy


def hand_labels(transform: Callable[[Points], Points] = lambda p: p, mirrored: bool = False) -> tuple[Points, Any]:
    """(17, 2) points and (17,) COCO flags (2: labelled, 0: not) of the labels carried by `transform`."""
    points, flags = np.zeros((K, 2)), np.zeros(K, np.int64)
    for name, xy in LABELS.items():
        k = COCO_KEYPOINT_NAMES.index(name)
        if mirrored:  # a mirrored person: her left eye is now on the image's other side and reads as "right"
            k = SWAP[k]
        points[k], flags[k] = transform(np.asarray(xy, float)), 2
    return points, flags


def _in_composite(p: Points) -> Points:
    return np.add(p, ASTRONAUT_OFFSET)


def _mirrored_in_composite(p: Points) -> Points:
    return np.array([(512 - p[0]) * MIRRORED_SCALE + MIRRORED_AT[0], p[1] * MIRRORED_SCALE + MIRRORED_AT[1]])


astronaut = Image.fromarray(data.astronaut())
composite = Image.new("RGB", (1000, 600), (180, 190, 200))
composite.paste(astronaut, ASTRONAUT_OFFSET)
composite.paste(
    astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((410, 410), Image.Resampling.LANCZOS), MIRRORED_AT
)
_x, _y, _w, _h = ASTRONAUT_BOX
PEOPLE = [  # name, image, box, label points, flags, label area
    ("astronaut", astronaut, ASTRONAUT_BOX, *hand_labels(), LABELLED_AREA),
    ("two_people/left", composite, (_x, _y + ASTRONAUT_OFFSET[1], _w, _h), *hand_labels(_in_composite), LABELLED_AREA),
    (
        "two_people/right_mirrored_0.8",
        composite,
        (
            (512 - _x - _w) * MIRRORED_SCALE + MIRRORED_AT[0],
            _y * MIRRORED_SCALE + MIRRORED_AT[1],
            _w * MIRRORED_SCALE,
            _h * MIRRORED_SCALE,
        ),
        *hand_labels(_mirrored_in_composite, mirrored=True),
        LABELLED_AREA * MIRRORED_SCALE**2,
    ),
]


def oks(predicted: Points, labelled: Points, flags: Any, box: Box, area: float) -> float:
    boxes, areas = np.asarray([box], float), np.asarray([area], float)
    return float(compute_oks(predicted[None], labelled[None], flags[None], boxes, areas)[0, 0])


def png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def served(url: str, model: str, flip: bool, boxed: bool) -> list[tuple[Points, Any]]:
    """(17, 2) keypoints and (17,) confidences of every person of PEOPLE on her box, or of the astronaut as a whole
    image (`boxed` False)."""
    if boxed:
        body = {
            "images": [png_base64(astronaut), png_base64(composite)],
            "boxes": [[list(PEOPLE[0][2])], [list(PEOPLE[1][2]), list(PEOPLE[2][2])]],
        }
    else:
        body = {"images": [png_base64(astronaut)]}
    reply = httpx.post(f"{url}/v1/models/{model}/pose", json=body, params={"flip": str(flip).lower()}, timeout=120)
    reply.raise_for_status()
    results = reply.json()["results"]
    people = [person for result in results for person in result["people"]] if boxed else results
    return [
        (
            np.array([[point["x"], point["y"]] for point in person["keypoints"]]),
            np.array([point["confidence"] for point in person["keypoints"]]),
        )
        for person in people
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--model", default="pose_cnn")
    args = parser.parse_args()
    print(f"| {args.model}: person | box | flip | OKS vs labels |\n|---|---|---|--:|")
    for flip in (False, True):
        for boxed in (True, False):
            cases = PEOPLE if boxed else PEOPLE[:1]
            for (name, _, box, points, flags, area), (predicted, _) in zip(
                cases, served(args.url, args.model, flip, boxed), strict=True
            ):
                score = oks(predicted, points, flags, box, area)
                print(f"| {name} | {'yes' if boxed else 'no'} | {'on' if flip else 'off'} | {score:.3f} |")


if __name__ == "__main__":
    main()
