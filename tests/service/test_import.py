"""`posecast import` end to end: graphs in other projects' conventions imported by the real command, served by a
real server, answering the keypoints the native graph answers; bad specs and mismatched graphs refused."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from cli.main import main
from evaluation.keypoint_ap import STAT_NAMES
from evaluation.keypoints import COCO_FLIP_PAIRS, COCO_KEYPOINT_NAMES
from modelcard import ModelCard
from modelcard.letterbox import letterbox_image
from tests.evaluation.test_keypoint_ap import pycocotools_eval
from tests.service.conftest import Server, ready_server
from tests.service.importmodels import SIZE, SPECS, build, write_native

IMPORTED = tuple(SPECS)
CONVENTIONS = ("movenet_like", "heatmaps", "simcc")  # the native graph's keypoints, in other projects' forms
TOLERANCE_PX = 0.5  # the bound; heatmap cells and SimCC bins here cost at most a quarter input pixel


@pytest.fixture(scope="module")
def graphs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build(tmp_path_factory.mktemp("graphs"))


@pytest.fixture(scope="module")
def imported(graphs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository with the native graph and the three wrappers, each added by `posecast import`."""
    root = tmp_path_factory.mktemp("imported")
    write_native(root, graphs["native"])
    for name in IMPORTED:
        spec = root.parent / f"{name}.toml"
        spec.write_text(SPECS[name])
        assert posecast("import", graphs[name], "--repository", root, "--name", name, "--spec", spec)[0] == 0
    return root


@pytest.fixture(scope="module")
def server(imported: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with ready_server(imported, tmp_path_factory.mktemp("logs") / "import.log", max_batch_size="8") as running:
        yield running


@pytest.fixture
def http(server: Server) -> Iterator[httpx.Client]:
    with server.client() as client:
        yield client


def posecast(*args: Any) -> tuple[int, str]:
    """The CLI in-process: exit status and what it printed to stderr (the error line) or stdout."""
    import contextlib

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(arg) for arg in args])
    return code, err.getvalue() or out.getvalue()


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def noise(width: int, height: int, seed: int) -> Image.Image:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


def points_of(keypoints: list[dict[str, Any]]) -> np.ndarray:
    return np.array([[k["x"], k["y"]] for k in keypoints])


def pose(http: httpx.Client, model: str, body: dict[str, Any], **params: Any) -> Any:
    response = http.post(f"/v1/models/{model}/pose", json=body, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_import_writes_a_card_that_says_where_the_graph_came_from(imported: Path, graphs: dict[str, Path]) -> None:
    card = ModelCard.read(imported / "simcc" / "1" / "model.json")
    assert (card.origin, card.architecture, card.task) == ("imported", "imported", "pose")
    assert card.inputs[0].shape == [1, 3, *SIZE]  # the graph's fixed batch of 1, kept
    assert card.pose is not None
    assert card.pose.output.names == ["simcc_x", "simcc_y"]
    assert card.keypoint_names is not None
    assert len(card.keypoint_names) == 17
    assert card.training == {"imported_from": "simcc.onnx"}
    nhwc = ModelCard.read(imported / "movenet_like" / "1" / "model.json")
    assert nhwc.inputs[0].shape == [-1, *SIZE, 3]
    assert nhwc.inputs[0].datatype == "UINT8"
    assert nhwc.pose is not None
    assert nhwc.pose.input.scale == 1.0  # its spec says only dtype = "uint8": raw pixels
    assert (imported / "movenet_like" / "config.pbtxt").read_text().count("TYPE_UINT8") == 1
    assert "max_batch_size: 0" in (imported / "simcc" / "config.pbtxt").read_text()


@pytest.mark.parametrize("model", CONVENTIONS)
def test_imported_graphs_serve_the_native_keypoints(http: httpx.Client, model: str) -> None:
    """Whole images (letterboxed, several per request: the fixed-batch graph runs them one by one) and boxes."""
    images = [noise(64, 48, 1), noise(40, 44, 2), noise(56, 30, 3)]
    body = {"images": [base64_png(image) for image in images]}
    boxes = {**body, "boxes": [[[4, 3, 40, 30], [20, 10, 16, 30]], [], [[0, 0, 56, 30]]]}
    for request in (body, boxes):
        native, other = pose(http, "native", request), pose(http, model, request)
        for mine, theirs in zip(native["results"], other["results"], strict=True):
            if "boxes" in request:
                assert len(theirs["people"]) == len(mine["people"])
                people = zip(mine["people"], theirs["people"], strict=True)
                pairs = [(a["keypoints"], b["keypoints"]) for a, b in people]
            else:
                pairs = [(mine["keypoints"], theirs["keypoints"])]
            for expected, served in pairs:
                assert np.abs(points_of(served) - points_of(expected)).max() <= TOLERANCE_PX


def base64_png(image: Image.Image) -> str:
    import base64

    return base64.b64encode(png(image)).decode()


def test_a_box_crops_what_posting_the_cropped_region_letterboxes(http: httpx.Client) -> None:
    """Box (10, 8, 32, 24) grows by 1.25 to (6, 5, 40, 30): the input's 4:3, so its crop is the region itself."""
    image = noise(80, 60, 4)
    boxed = pose(http, "native", {"images": [base64_png(image)], "boxes": [[[10, 8, 32, 24]]]})
    region = pose(http, "native", {"images": [base64_png(image.crop((6, 5, 46, 35)))]})
    person = boxed["results"][0]["people"][0]
    assert person["box"] == [10, 8, 32, 24]
    expected = np.add(points_of(region["results"][0]["keypoints"]), [6, 5])
    np.testing.assert_allclose(points_of(person["keypoints"]), expected, atol=1e-3)
    assert person["score"] == pytest.approx(np.mean([k["confidence"] for k in person["keypoints"]]), abs=1e-6)


def test_the_flip_test_is_mirror_symmetric(http: httpx.Client) -> None:
    """With flip, the keypoints of a mirrored image are the mirrored keypoints, left and right swapped; without
    it they are not (the network is not symmetric)."""
    image = noise(64, 48, 5)
    mirror = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    order = np.arange(17)
    for left, right in COCO_FLIP_PAIRS:
        order[left], order[right] = right, left

    def mirrored_gap(flip: bool) -> float:
        straight, flipped = (
            points_of(pose(http, "native", {"images": [base64_png(item)]}, flip=flip)["results"][0]["keypoints"])
            for item in (image, mirror)
        )
        back = flipped[order] * [-1, 1] + [64, 0]
        return float(np.abs(back - straight).max())

    assert mirrored_gap(True) < 1e-3
    assert mirrored_gap(False) > 0.1


def test_coco_format_lists_every_person_for_pycocotools(http: httpx.Client, tmp_path: Path) -> None:
    """The list goes to pycocotools and /v1/evaluate/oks as it is, and both score it alike."""
    image = noise(64, 48, 6)
    body = {"images": [base64_png(image)], "boxes": [[[4, 3, 40, 30], [20, 10, 16, 30]]]}
    people = pose(http, "heatmaps", body)["results"][0]["people"]
    coco = pose(http, "heatmaps", body, format="coco", image_ids="42")
    assert [entry["image_id"] for entry in coco] == [42, 42]
    assert all(entry["category_id"] == 1 for entry in coco)
    for entry, person in zip(coco, people, strict=True):
        flat = np.array(entry["keypoints"]).reshape(17, 3)
        np.testing.assert_allclose(flat[:, :2], points_of(person["keypoints"]) - 0.5, atol=1e-9)
        assert entry["score"] == pytest.approx(person["score"])
    # Ground truth: each person exactly where the model put them, so both routes and pycocotools score 1.
    annotations = [
        {
            "id": i + 1,
            "image_id": 42,
            "category_id": 1,
            "iscrowd": 0,
            "bbox": box,
            "area": box[2] * box[3],
            "num_keypoints": 17,
            "keypoints": np.column_stack([np.reshape(entry["keypoints"], (17, 3))[:, :2], np.full(17, 2)])
            .ravel()
            .tolist(),
        }
        for i, (entry, box) in enumerate(zip(coco, body["boxes"][0], strict=True))
    ]
    truth = {
        "images": [{"id": 42, "width": 64, "height": 48}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person", "keypoints": list(COCO_KEYPOINT_NAMES)}],
    }
    files = {"annotations": ("gt.json", json.dumps(truth)), "results": ("dt.json", json.dumps(coco))}
    scores = http.post("/v1/evaluate/oks", files=files)
    assert scores.status_code == 200, scores.text
    reference = pycocotools_eval(tmp_path, truth, coco).stats
    np.testing.assert_allclose([scores.json()[name] for name in STAT_NAMES], reference, atol=1e-6)
    assert scores.json()["AP"] == pytest.approx(1.0)
    pck = http.post("/v1/evaluate/pck", files=files)
    assert pck.status_code == 200, pck.text
    assert pck.json()["pck"]["0.05"] == pytest.approx(1.0), pck.text


def test_the_overlay_draws_every_person(http: httpx.Client) -> None:
    image = Image.new("RGB", (120, 80), (0, 0, 0))
    boxes = [[5, 5, 40, 30], [70, 40, 40, 30]]
    response = http.post(
        "/v1/models/native/pose",
        content=png(image),
        headers={"content-type": "image/png"},
        params={"boxes": json.dumps(boxes), "render": "png"},
    )
    assert response.status_code == 200, response.text
    drawn = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB")).astype(int)
    assert drawn.shape == (80, 120, 3)
    for x, y, w, _ in boxes:  # each box's top edge is drawn where the request put it
        assert (drawn[y, x : x + w] == [255, 200, 0]).all(axis=-1).mean() > 0.9


@pytest.mark.parametrize(
    ("body", "params", "message"),
    [
        ({"boxes": [[[0, 0, 0, 10]]]}, {}, "at least 1 px wide and high"),
        ({"boxes": [[[0, 0, 5e-324, 5e-324]]]}, {"format": "coco"}, "at least 1 px wide and high"),
        ({"boxes": [[], []]}, {}, "2 lists for 1 images"),
        ({"boxes": [[[0, 0, 10]]]}, {}, "invalid request"),
        ({"boxes": [[[0, 0, 1e9, 10]]]}, {}, "within"),
        ({}, {"boxes": "[[0, 0, 4, 4]]"}, "goes with a raw image body"),
        ({}, {"format": "coco", "image_ids": "1,2"}, "names 2 images"),
    ],
)
def test_bad_boxes_and_options_are_4xx(http: httpx.Client, body: dict[str, Any], params: Any, message: str) -> None:
    request = {"images": [base64_png(noise(20, 20, 7))], **body}
    response = http.post("/v1/models/native/pose", json=request, params=params)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


def test_the_query_boxes_must_be_json_boxes(http: httpx.Client) -> None:
    response = http.post(
        "/v1/models/native/pose",
        content=png(noise(20, 20, 8)),
        headers={"content-type": "image/png"},
        params={"boxes": "[[1, 2"},
    )
    assert response.status_code == 400
    assert "boxes query parameter must be a JSON list" in response.json()["error"]


def test_multipart_takes_one_boxes_field_per_image(http: httpx.Client) -> None:
    files = [("images", ("a.png", png(noise(64, 48, 9)), "image/png")), ("images", ("b.png", png(noise(30, 30, 10))))]
    data = {"boxes": [json.dumps([[4, 3, 40, 30]]), json.dumps([[0, 0, 10, 10], [5, 5, 20, 20]])]}
    response = http.post("/v1/models/simcc/pose", files=files, data=data)
    assert response.status_code == 200, response.text
    assert [len(result["people"]) for result in response.json()["results"]] == [1, 2]


BAD_SPECS = [
    ("movenet_like", SPECS["movenet_like"].replace('layout = "NHWC"', 'layout = "NCHW"'), "not 3 (is the layout"),
    ("movenet_like", SPECS["movenet_like"].replace('dtype = "uint8"', 'dtype = "float32"'), "is UINT8"),
    ("heatmaps", SPECS["heatmaps"].replace('keypoints = "coco17"', 'keypoints = ["a", "b"]'), "answers 17 keypoints"),
    ("heatmaps", SPECS["heatmaps"].replace('format = "heatmaps"', 'format = "simcc"'), "reads 2 outputs"),
    ("simcc", SPECS["simcc"].replace("split_ratio = 2.0", "split_ratio = 3.0"), "has 128 bins"),
    ("simcc", SPECS["simcc"].replace('"simcc_y"]', '"nope"]'), "which the graph lacks"),
    ("simcc", SPECS["simcc"] + "\nunknown = 1\n", "Extra inputs are not permitted"),
    ("simcc", SPECS["simcc"].replace("[input]", "[input]\nsize = [32, 32]"), "graph fixes (H, W) = [48, 64]"),
    ("simcc", SPECS["simcc"].replace("[output]", "[output]\nskeleton = [[0, 17]]"), "point past the 17"),
    ("heatmaps", SPECS["heatmaps"].replace("[input]", "[input]\ndtype = 'uint8'\n"), "takes raw pixels"),
    ("heatmaps", "task = [", "not valid TOML"),
    (
        "heatmaps",
        SPECS["heatmaps"]
        .replace('task = "pose"', 'task = "pose"\nflip = true')
        .replace('keypoints = "coco17"', f"keypoints = {[f'k{i}' for i in range(17)]}"),
        "flip = true needs left/right keypoint pairs",
    ),
]


@pytest.mark.parametrize(("graph", "text", "message"), BAD_SPECS)
def test_bad_specs_and_mismatched_graphs_are_refused_at_import(
    graphs: dict[str, Path], tmp_path: Path, graph: str, text: str, message: str
) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(text)
    code, error = posecast("import", graphs[graph], "--repository", tmp_path / "repo", "--name", "m", "--spec", spec)
    assert code == 1
    assert message in error
    assert not (tmp_path / "repo" / "m" / "1").exists()


def test_import_never_overwrites_and_checks_the_file(graphs: dict[str, Path], tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPECS["simcc"])
    args = ["import", graphs["simcc"], "--repository", tmp_path, "--name", "m", "--spec", spec]
    assert posecast(*args)[0] == 0
    assert posecast(*args)[0] == 0  # without --version: the next one
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1", "2", "config.pbtxt"]
    code, error = posecast(*args, "--version", "2")
    assert code == 1
    assert "exists" in error
    not_onnx = tmp_path / "x.onnx"
    not_onnx.write_bytes(b"not a graph")
    code, error = posecast("import", not_onnx, "--repository", tmp_path, "--name", "m", "--spec", spec)
    assert code == 1
    assert "not an ONNX graph" in error
    code, error = posecast("import", graphs["simcc"], "--repository", tmp_path, "--name", "../up", "--spec", spec)
    assert code == 1
    assert "model name" in error


def test_stretch_resizes_each_axis_on_its_own(http: httpx.Client, graphs: dict[str, Path]) -> None:
    """A 90 x 30 image stretched to the 64 x 48 input, run by hand, mapped back per axis: the served keypoints."""
    import onnxruntime as ort

    image = noise(90, 30, 11)
    pixels, mapping = letterbox_image(image, SIZE, stretch=True)
    assert mapping.scales == pytest.approx((64 / 90, 48 / 30))
    session = ort.InferenceSession(str(graphs["native"]), providers=["CPUExecutionProvider"])
    batch = (pixels.astype(np.float32) / 255).transpose(2, 0, 1)[None]
    normalized = session.run(["keypoints"], {"image": batch})[0][0]
    expected = mapping.to_source(normalized * [SIZE[1], SIZE[0]])
    served = pose(http, "stretched", {"images": [base64_png(image)]})["results"][0]["keypoints"]
    np.testing.assert_allclose(points_of(served), expected, atol=1e-3)


def test_box_counts_are_bounded_before_anything_is_cropped(http: httpx.Client) -> None:
    """Boxes are cheap to send and a crop each to make: the count is checked against the model's samples per request
    (64 here) first, mirrored crops included."""
    image = base64_png(noise(20, 20, 12))
    many = http.post("/v1/models/native/pose", json={"images": [image], "boxes": [[[0, 0, 4, 4]] * 5000]})
    assert many.status_code == 413
    assert "5000 crops" in many.json()["error"]
    mirrored = http.post(
        "/v1/models/native/pose", json={"images": [image], "boxes": [[[0, 0, 4, 4]] * 40]}, params={"flip": "true"}
    )
    assert mirrored.status_code == 413
    assert "mirrored" in mirrored.json()["error"]
    assert pose(http, "native", {"images": [image], "boxes": [[[0, 0, 4, 4]] * 32]}, flip="true")["results"]
