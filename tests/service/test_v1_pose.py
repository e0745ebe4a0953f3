"""`POST /v1/models/{name}/pose` over a real uvicorn with a real exported pose_cnn."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from modelcard.letterbox import letterbox_image
from tests.service.conftest import API_KEY, Server
from tests.service.taskmodels import PAD, POSE_SIZE
from tests.service.v2client import reference


@pytest.fixture(scope="module")
def http(task_server: Server) -> httpx.Client:
    with task_server.client() as client:
        yield client


def encoded(size: tuple[int, int], seed: int, fmt: str = "PNG", **options: object) -> bytes:
    """A random RGB image (W, H) encoded as `fmt`."""
    pixels = (np.random.default_rng(seed).random((size[1], size[0], 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def expected_keypoints(onnx: Path, data: bytes) -> np.ndarray:
    """What the server must answer, computed here: letterbox, run, map back to the upload's pixels."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    grey = round(PAD * 255)
    pixels, geometry = letterbox_image(image, POSE_SIZE, fill=(grey, grey, grey))
    batch = pixels.transpose(2, 0, 1)[None]  # pose_cnn takes uint8 pixels
    points = reference(onnx, {"image": batch})["keypoints"][0] * [POSE_SIZE[1], POSE_SIZE[0]]
    return geometry.to_source(points)


def points(result: dict[str, object]) -> np.ndarray:
    return np.array([[p["x"], p["y"]] for p in result["keypoints"]])  # type: ignore[index, union-attr]


def test_images_of_any_size_in_one_request_match_local_onnxruntime(
    http: httpx.Client, task_files: dict[str, Path]
) -> None:
    uploads = [encoded((90, 120), 0), encoded((200, 50), 1, "JPEG"), encoded((64, 48), 2, "WEBP")]
    before = http.get("/v2/models/pose/stats").json()["model_stats"][0]
    response = http.post("/v1/models/pose/pose", files=[("images", (f"{i}", data)) for i, data in enumerate(uploads)])
    assert response.status_code == 200, response.text
    body = response.json()
    after = http.get("/v2/models/pose/stats").json()["model_stats"][0]
    assert after["execution_count"] - before["execution_count"] == 1  # letterboxed to one shape: one run
    assert after["inference_count"] - before["inference_count"] == 3
    assert (body["model_name"], body["model_version"], body["task"]) == ("pose", "1", "pose")
    assert body["keypoint_names"][0] == "nose"
    assert len(body["skeleton"]) == 19
    assert body["time_ms"] > 0
    assert [(r["width"], r["height"]) for r in body["results"]] == [(90, 120), (200, 50), (64, 48)]
    for data, result in zip(uploads, body["results"], strict=True):
        assert len(result["keypoints"]) == 17
        # The JPEG decodes at half size (DCT scaling, as big as the input needs), the reference in full: a few
        # thousandths of a pixel apart.
        np.testing.assert_allclose(points(result), expected_keypoints(task_files["pose"], data), atol=0.01)
        assert all(0 <= p["confidence"] <= 1 for p in result["keypoints"])


def test_multipart_raw_and_base64_json_give_the_same_answer(http: httpx.Client) -> None:
    data = encoded((70, 40), 3)
    answers = [
        http.post("/v1/models/pose/pose", files={"image": ("a.png", data, "image/png")}),
        http.post("/v1/models/pose/versions/1/pose", content=data, headers={"content-type": "image/png"}),
        http.post("/v1/models/pose/pose", json={"images": [base64.b64encode(data).decode()]}),
        http.post(
            "/v1/models/pose/pose", json={"images": ["data:image/png;base64," + base64.b64encode(data).decode()]}
        ),
    ]
    results = [answer.json()["results"] for answer in answers]
    assert all(result == results[0] for result in results)


def test_exif_orientation_is_applied_before_the_model_sees_the_image(http: httpx.Client) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": a 80 x 30 file shows as 30 x 80
    data = encoded((80, 30), 4, "JPEG", exif=exif)
    result = http.post("/v1/models/pose/pose", content=data, headers={"content-type": "image/jpeg"}).json()
    assert (result["results"][0]["width"], result["results"][0]["height"]) == (30, 80)


def test_png_answer_draws_the_skeleton_on_the_upload(http: httpx.Client) -> None:
    data = encoded((100, 80), 5)
    for response in (
        http.post("/v1/models/pose/pose", content=data, headers={"content-type": "image/png", "accept": "image/png"}),
        http.post("/v1/models/pose/pose?render=png", files={"images": ("a.png", data)}),
    ):
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/png"
        assert response.headers["x-model-version"] == "1"
        drawn = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
        original = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        assert drawn.shape == original.shape
        assert 0 < (drawn != original).any(axis=-1).mean() < 0.5  # lines and points, not a new picture


@pytest.mark.parametrize(
    ("request_kwargs", "status", "message"),
    [
        ({"content": b"not an image", "headers": {"content-type": "image/png"}}, 400, "not a PNG, JPEG or WebP"),
        ({"content": encoded((30, 30), 0)[:60], "headers": {"content-type": "image/png"}}, 400, "could not be decoded"),
        (  # a million empty comment segments: seconds of Pillow's Python parser
            {"content": b"\xff\xd8" + b"\xff\xfe\x00\x02" * 1_000_000, "headers": {"content-type": "image/jpeg"}},
            400,
            "refused unparsed",
        ),
        (
            {"content": encoded((600, 600), 0), "headers": {"content-type": "image/png"}},
            413,
            "POSECAST_MAX_IMAGE_PIXELS",
        ),
        ({"files": [("images", ("a", encoded((8, 8), i))) for i in range(5)]}, 400, "Maximum number of files is 4"),
        ({"json": {"images": ["aGVsbG8=" for _ in range(5)]}}, 400, "at most 4"),
        ({"json": {"images": []}}, 400, "images"),
        ({"json": {"images": ["***"]}}, 400, "not valid base64"),
        ({"json": {"pictures": []}}, 400, "pictures"),
        ({"content": b"x", "headers": {"content-type": "text/plain"}}, 415, "multipart/form-data"),
        (
            {"json": {"images": [base64.b64encode(encoded((8, 8), 0)).decode()] * 2}, "params": {"render": "png"}},
            400,
            "draws one image",
        ),
        ({"json": {"images": ["aGVsbG8="]}, "params": {"padding": "9"}}, 400, "query.padding"),
        ({"json": {"images": ["aGVsbG8="]}, "params": {"flip": "maybe"}}, 400, "query.flip"),
        ({"json": {"images": ["aGVsbG8="]}, "params": {"format": "yaml"}}, 400, "query.format"),
    ],
)
def test_malformed_requests_get_a_precise_4xx(
    http: httpx.Client, request_kwargs: dict[str, object], status: int, message: str
) -> None:
    response = http.post("/v1/models/pose/pose", **request_kwargs)  # type: ignore[arg-type]
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_wrong_task_and_unknown_model(http: httpx.Client) -> None:
    data = {"content": encoded((8, 8), 0), "headers": {"content-type": "image/png"}}
    wrong = http.post("/v1/models/series/pose", **data)  # type: ignore[arg-type]
    assert wrong.status_code == 400
    assert "does the 'forecast' task" in wrong.json()["error"]
    assert "/v1/models/series/forecast" in wrong.json()["error"]
    assert http.post("/v1/models/nothing/pose", **data).status_code == 404  # type: ignore[arg-type]
    assert http.post("/v1/models/pose/versions/7/pose", **data).status_code == 404  # type: ignore[arg-type]


def test_api_keys_guard_the_task_endpoints(server: Server) -> None:
    """The shared V2 server has keys on; its old-style card (no preprocessing) still serves /pose."""
    data = encoded((40, 40), 0)
    with server.client() as anonymous:
        assert (
            anonymous.post("/v1/models/pose/pose", content=data, headers={"content-type": "image/png"}).status_code
            == 401
        )
        assert anonymous.get("/v1/models").status_code == 401
    with server.client(authorization=f"Bearer {API_KEY}") as client:
        answer = client.post("/v1/models/pose/pose", content=data, headers={"content-type": "image/png"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["keypoint_names"][-1] == "right_ankle"  # COCO names for a 17-point model


def test_a_large_jpeg_decodes_reduced_with_the_same_answer(http: httpx.Client, task_files: dict[str, Path]) -> None:
    """A 560 x 420 JPEG letterboxed into 64 x 48 decodes at 1/8 (70 x 53, still over the input on each axis):
    keypoints agree with the full decode to within one model-input pixel, in the upload's pixels and size."""
    rows, columns = np.mgrid[0:420, 0:560]
    smooth = np.stack([columns / 560, rows / 420, np.sin(columns / 37.0) * np.cos(rows / 23.0) / 2 + 0.5], -1)
    buffer = io.BytesIO()
    Image.fromarray((smooth * 255).astype(np.uint8)).save(buffer, format="JPEG", quality=92)
    response = http.post("/v1/models/pose/pose", content=buffer.getvalue(), headers={"content-type": "image/jpeg"})
    assert response.status_code == 200, response.text
    result = response.json()["results"][0]
    assert (result["width"], result["height"]) == (560, 420)
    input_pixel = 560 / POSE_SIZE[1]  # upload pixels per model-input pixel
    full = expected_keypoints(task_files["pose"], buffer.getvalue())
    assert np.abs(points(result) - full).max() < input_pixel


def test_the_documented_query_parameters_are_the_ones_served(http: httpx.Client) -> None:
    """/pose is served by a plain Starlette route (speed) and documented by its FastAPI twin: both read PoseQuery."""
    from service.api.pose import PoseQuery

    for path in ("/v1/models/{name}/pose", "/v1/models/{name}/versions/{version}/pose"):
        operation = http.get("/openapi.json").json()["paths"][path]["post"]
        documented = {p["name"] for p in operation["parameters"] if p["in"] == "query"}
        assert documented == set(PoseQuery.model_fields)
    data = encoded((40, 30), 3)
    plain = http.post("/v1/models/pose/pose", content=data, headers={"content-type": "image/png"})
    coco = http.post(
        "/v1/models/pose/pose?format=coco&image_ids=7", content=data, headers={"content-type": "image/png"}
    )
    assert plain.status_code == coco.status_code == 200, coco.text
    assert coco.json()[0]["image_id"] == 7
    expected = [[p["x"] - 0.5, p["y"] - 0.5, p["confidence"]] for p in plain.json()["results"][0]["keypoints"]]
    np.testing.assert_allclose(np.reshape(coco.json()[0]["keypoints"], (-1, 3)), expected, atol=1e-4)
