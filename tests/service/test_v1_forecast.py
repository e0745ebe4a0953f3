"""`POST /v1/models/{name}/forecast` for keypoint, series, frame and sequence-pose models over a real uvicorn."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.service.conftest import Server
from tests.service.taskmodels import FRAME_SHAPE, FRAMES_HORIZON, KEYPOINT_HORIZON, SEQPOSE_SIZE, SERIES_INTERVALS
from tests.service.v2client import reference


@pytest.fixture(scope="module")
def http(task_server: Server) -> httpx.Client:
    with task_server.client() as client:
        yield client


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def test_keypoint_forecast_is_the_graphs_first_steps_in_the_clients_shape(
    http: httpx.Client, task_files: dict[str, Path]
) -> None:
    history = np.random.default_rng(0).normal(100, 30, (7, 17, 2)).astype(np.float32)  # pixel units
    expected = reference(task_files["keypoints"], {"history": history.reshape(1, 7, 34)})["forecast"][0]
    response = http.post("/v1/models/keypoints/forecast", json={"sequence": history.tolist(), "horizon": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["model_name"], body["model_version"], body["horizon"], body["shape"]) == (
        "keypoints",
        "1",
        3,
        [3, 17, 2],
    )
    np.testing.assert_allclose(body["forecast"], expected[:3].reshape(3, 17, 2), rtol=1e-5, atol=1e-3)
    assert body["keypoint_names"][0] == "nose"
    assert len(body["skeleton"]) == 19
    default = http.post("/v1/models/keypoints/forecast", files={"sequence": ("s.npy", npy(history))}).json()
    assert default["horizon"] == KEYPOINT_HORIZON
    np.testing.assert_allclose(default["forecast"][:3], body["forecast"], rtol=1e-6)


def test_series_forecast_from_json_and_npy_agree(http: httpx.Client, task_files: dict[str, Path]) -> None:
    history = np.random.default_rng(1).normal(size=(5, 3)).astype(np.float32)
    expected = reference(task_files["series"], {"history": history[None]})["forecast"][0, :2]
    by_json = http.post("/v1/models/series/forecast", json={"sequence": history.tolist(), "horizon": 2}).json()
    by_file = http.post(
        "/v1/models/series/forecast", files={"sequence": ("s.npy", npy(history))}, data={"horizon": "2"}
    ).json()
    np.testing.assert_allclose(by_json["forecast"], expected, rtol=1e-5, atol=1e-5)
    assert by_file["forecast"] == by_json["forecast"]


def test_series_forecast_with_intervals_scaled_by_the_requests_own_window(http: httpx.Client) -> None:
    """Bounds = forecast ± the card's half-width × the window's standard deviation, per step and feature; the same
    from JSON and from a multipart form."""
    history = np.random.default_rng(3).normal(size=(8, 3)) * [1.0, 10.0, 100.0] + [0.0, 50.0, -20.0]
    body = http.post(
        "/v1/models/series/forecast", json={"sequence": history.tolist(), "horizon": 4, "intervals": [0.8, 0.95]}
    ).json()
    forecast, spread = np.array(body["forecast"]), history.astype(np.float32).std(axis=0)
    for level in ("0.8", "0.95"):
        half = np.array(SERIES_INTERVALS.half_widths[level][:4]) * spread
        np.testing.assert_allclose(body["intervals"][level]["lower"], forecast - half, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(body["intervals"][level]["upper"], forecast + half, rtol=1e-5, atol=1e-4)
    form = http.post(
        "/v1/models/series/forecast",
        files={"sequence": ("s.npy", npy(history.astype(np.float32)))},
        data={"horizon": "4", "intervals": "0.8,0.95"},
    ).json()
    np.testing.assert_allclose(form["intervals"]["0.95"]["upper"], body["intervals"]["0.95"]["upper"], rtol=1e-6)
    listing = {model["name"]: model for model in http.get("/v1/models").json()}
    assert listing["series"]["interval_levels"] == [0.8, 0.95]
    assert listing["series"]["versus_baseline"] == {
        "baseline": "seasonal_naive_drift", "baseline_rmse": 2.0, "model_rmse": 1.5, "ratio": 0.75
    }  # fmt: skip
    assert listing["keypoints"]["interval_levels"] is None


@pytest.mark.parametrize(
    ("model", "levels", "message"),
    [("series", [0.9], "has intervals at levels ['0.8', '0.95'], not [0.9]"),
     ("keypoints", [0.8], "has no calibrated prediction intervals"),
     ("series", [1.5], "less than 1")],
)  # fmt: skip
def test_interval_levels_the_model_was_not_calibrated_at(
    http: httpx.Client, model: str, levels: list[float], message: str
) -> None:
    step = [0.0, 1.0, 2.0] if model == "series" else np.zeros((17, 2)).tolist()
    response = http.post(f"/v1/models/{model}/forecast", json={"sequence": [step] * 4, "intervals": levels})
    assert response.status_code == 400
    assert message in response.json()["error"]


def test_frame_forecast_as_arrays_and_as_pngs(http: httpx.Client, task_files: dict[str, Path]) -> None:
    pixels = (np.random.default_rng(2).random((3, *FRAME_SHAPE[1:])) * 255).astype(np.uint8)  # 3 grey frames
    frames = (pixels.astype(np.float32) / 255)[:, None]  # (T, 1, 16, 16)
    expected = reference(task_files["frames"], {"frames": frames[None]})["forecast"][0]
    by_array = http.post("/v1/models/frames/forecast", json={"sequence": frames.tolist()}).json()
    assert by_array["shape"] == [FRAMES_HORIZON, *FRAME_SHAPE]
    np.testing.assert_allclose(by_array["forecast"], expected, atol=1e-5)
    uploads = [("frames", (f"{i}.png", png(frame))) for i, frame in enumerate(pixels)]
    by_images = http.post("/v1/models/frames/forecast", files=uploads, data={"frames_as": "png"}).json()
    assert by_images["forecast"] is None
    assert len(by_images["frames_png"]) == FRAMES_HORIZON
    decoded = [np.asarray(Image.open(io.BytesIO(base64.b64decode(frame)))) for frame in by_images["frames_png"]]
    np.testing.assert_allclose(np.stack(decoded) / 255, expected[:, 0], atol=1.5 / 255)


def test_frames_to_a_sequence_pose_model_answer_like_the_pose_endpoint(http: httpx.Client) -> None:
    rng = np.random.default_rng(3)
    frames = [png((rng.random((60, 100, 3)) * 255).astype(np.uint8)) for _ in range(3)]
    body = http.post("/v1/models/seqpose/forecast", files=[("frames", (f"{i}.png", f)) for i, f in enumerate(frames)])
    assert body.status_code == 200, body.text
    result = body.json()
    assert result["task"] == "sequence_pose"
    assert len(result["skeleton"]) == 19
    assert (result["results"][0]["width"], result["results"][0]["height"]) == (100, 60)
    array = rng.random((3, 3, *SEQPOSE_SIZE)).tolist()
    by_array = http.post("/v1/models/seqpose/forecast", json={"sequence": array}).json()
    assert (by_array["results"][0]["width"], by_array["results"][0]["height"]) == (SEQPOSE_SIZE[1], SEQPOSE_SIZE[0])


SERIES = [[0.0, 1.0, 2.0], [1.0, 2.0, 3.0]]


@pytest.mark.parametrize(
    ("model", "body", "message"),
    [
        ("series", {"sequence": SERIES, "horizon": 7}, "horizon must be between 1 and 6"),
        ("series", {"sequence": SERIES, "horizon": 0}, "horizon must be between 1 and 6"),
        ("series", '{"sequence": [[0, 1, NaN], [1, 2, 3]]}', "NaN or inf at index (0, 2)"),
        ("series", '{"sequence": [[0, 1, Infinity], [1, 2, 3]]}', "NaN or inf"),
        ("series", {"sequence": [[0.0, 1e39, 2.0], [1.0, 2.0, 3.0]]}, "(as FP32)"),
        ("series", {"sequence": [[0.0, 1.0], [1.0, 2.0]]}, "shape (T, 3), got [2, 2]"),
        ("series", {"sequence": [[0.0, 1.0, 2.0], [1.0]]}, "rectangular"),
        ("series", {"sequence": [[0.0, 1.0, 2.0]]}, "1 time steps; model 'series' takes at least 2"),
        ("series", {"sequence": [[0.0, 1.0, 2.0]] * 33}, "at most 32"),
        ("series", {"sequence": SERIES, "frames": ["aGk="]}, "exactly one of"),
        ("series", {"frames": ["aGk="]}, "not images"),
        ("series", {"sequence": SERIES, "speed": 2}, "speed"),
        ("keypoints", {"sequence": SERIES}, "shape (T, 17, 2)"),
        ("seqpose", {"sequence": [[[[0.0]]]], "horizon": 2}, "takes no horizon"),
        ("frames", {"frames": ["bm90IGFuIGltYWdl", "bm90IGFuIGltYWdl"]}, "frame 0 is not a PNG"),
        ("pose", {"sequence": SERIES}, "send it to /v1/models/pose/pose"),
    ],
)
def test_malformed_sequences_get_a_precise_400(http: httpx.Client, model: str, body: object, message: str) -> None:
    content = body if isinstance(body, str) else json.dumps(body)
    response = http.post(f"/v1/models/{model}/forecast", content=content, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


def test_npy_that_is_not_numeric_or_not_npy(http: httpx.Client) -> None:
    for data, message in ((b"garbage", "not a readable .npy"), (npy(np.array(["a", "b"])), "must hold numbers")):
        response = http.post("/v1/models/series/forecast", files={"sequence": ("s.npy", data)})
        assert response.status_code == 400
        assert message in response.json()["error"]
