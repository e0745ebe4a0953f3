"""Evaluation endpoints: numbers equal those of `evaluation` and the training COCO loader (the CLI's path)."""

from __future__ import annotations

import io
import json
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from PIL import Image

from evaluation.keypoint_ap import STAT_NAMES
from evaluation.matching import pck_from_coco
from evaluation.pck import compute_pck
from evaluation.regression import regression_metrics
from evaluation.task_reports import forecast_report
from modelcard.letterbox import CROP_MARGIN, crop_person, grow_box
from service.tasks.images import pad_fill
from tests.evaluation.test_keypoint_ap import pycocotools_eval, random_coco
from tests.service.conftest import Server
from tests.service.taskmodels import PAD, POSE_SIZE
from tests.service.v2client import reference
from training.data.coco import load_coco_keypoints


@pytest.fixture(scope="module")
def http(task_server: Server) -> httpx.Client:
    with task_server.client() as client:
        yield client


def coco_set(folder: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Two images, three scored people (one partly outside its crop), one crowd annotation."""
    rng = np.random.default_rng(0)
    images = {}
    for name, (width, height) in {"a.jpg": (120, 90), "b.png": (100, 140)}.items():
        buffer = io.BytesIO()
        Image.fromarray((rng.random((height, width, 3)) * 255).astype(np.uint8)).save(
            buffer, format=name[-3:].replace("jpg", "jpeg")
        )
        images[name] = buffer.getvalue()
        (folder / name).write_bytes(images[name])

    def person(ann_id: int, image_id: int, box: list[float], crowd: int = 0) -> dict[str, Any]:
        x, y, w, h = box
        points = np.stack([rng.uniform(x, x + w, 17), rng.uniform(y, y + h, 17), rng.choice([0, 1, 2], 17)], axis=1)
        points[[5, 6, 11, 12], 2] = 2  # a torso, so PCK can normalize
        points[0, :2] = [x - 0.3 * w, y - 0.3 * h]  # outside even the grown crop: unlabelled after cropping
        keypoints = [int(v) for v in points.round().ravel()]
        return {
            "id": ann_id,
            "image_id": image_id,
            "category_id": 1,
            "bbox": box,
            "iscrowd": crowd,
            "keypoints": keypoints,
        }

    annotations = {
        "images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.png"}],
        "categories": [{"id": 1, "name": "person", "keypoints": [f"k{i}" for i in range(17)], "skeleton": []}],
        "annotations": [
            person(10, 1, [10, 10, 50, 70]),
            person(11, 1, [60, 5, 40, 80]),
            person(12, 2, [20, 30, 60, 100]),
            person(13, 2, [0, 0, 90, 130], crowd=1),
        ],
    }
    (folder / "annotations.json").write_text(json.dumps(annotations))
    return annotations, images


def archive(annotations: dict[str, Any], images: dict[str, bytes], kind: str) -> bytes:
    buffer = io.BytesIO()
    files = {
        "set/person_keypoints.json": json.dumps(annotations).encode(),
        **{f"set/img/{k}": v for k, v in images.items()},
    }
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w") as out:
            for name, data in files.items():
                out.writestr(name, data)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as out:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                out.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_model_pck_on_a_coco_upload_equals_the_training_loader_path(
    http: httpx.Client, task_files: dict[str, Path], tmp_path: Path
) -> None:
    annotations, images = coco_set(tmp_path)
    people = load_coco_keypoints(tmp_path / "annotations.json", tmp_path, input_size=POSE_SIZE)
    batch = people.images.transpose(0, 3, 1, 2)  # uint8, as pose_cnn takes them
    scale = np.array([POSE_SIZE[1], POSE_SIZE[0]])
    predicted = reference(task_files["pose"], {"image": batch})["keypoints"] * scale
    expected = compute_pck(predicted, people.keypoints, people.visibility).to_dict()
    occluded = compute_pck(predicted, people.keypoints, people.visibility, score_only=people.visibility == 1)
    for kind in ("zip", "tar"):
        response = http.post(
            "/v1/models/pose/evaluate", files={"dataset": (f"set.{kind}", archive(annotations, images, kind))}
        )
        assert response.status_code == 200, response.text
        metrics = response.json()["metrics"]
        assert metrics["test_samples"] == 3
        assert metrics["pck"] == expected
        assert metrics["pck_occluded"] == occluded.to_dict()
        assert set(metrics["baselines"]["mean_pose"]["pck"]["pck"]) == {"0.05", "0.1", "0.2"}
        assert metrics["baselines"]["mean_pose"]["source"] == "the mean pose of the uploaded set"


def sequences_npz(count: int, seed: int) -> tuple[bytes, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sequences, targets = rng.normal(size=(count, 6, 17, 2)), rng.normal(size=(count, 3, 17, 2))
    buffer = io.BytesIO()
    np.savez(buffer, sequences=sequences, targets=targets)
    return buffer.getvalue(), sequences, targets


def expected_sequence_metrics(onnx: Path, sequences: np.ndarray, targets: np.ndarray) -> dict[str, Any]:
    flat = sequences.reshape(len(sequences), 6, 34).astype(np.float32)
    forecast = reference(onnx, {"history": flat})["forecast"][:, :3].reshape(targets.shape)
    return forecast_report(forecast, targets, sequences)  # the function `python -m training evaluate` reports with


def _successes(http: httpx.Client, model: str) -> int:
    return int(http.get(f"/v2/models/{model}/stats").json()["model_stats"][0]["inference_stats"]["success"]["count"])


def test_small_sequence_sets_answer_at_once(http: httpx.Client, task_files: dict[str, Path]) -> None:
    data, sequences, targets = sequences_npz(4, 0)
    before = _successes(http, "keypoints")
    response = http.post("/v1/models/keypoints/evaluate", files={"dataset": ("set.npz", data)})
    assert response.status_code == 200, response.text
    assert _successes(http, "keypoints") == before + 1  # an evaluation counts in the statistics like any request
    body = response.json()
    expected = expected_sequence_metrics(task_files["keypoints"], sequences, targets)
    assert body["metrics"]["model"]["mse"] == pytest.approx(expected["model"]["mse"], rel=1e-5)
    assert body["metrics"]["model"]["per_step"]["rmse"] == pytest.approx(
        expected["model"]["per_step"]["rmse"], rel=1e-5
    )
    assert body["metrics"]["baselines"] == expected["baselines"]


def test_large_sets_run_as_a_job_with_progress(http: httpx.Client, task_files: dict[str, Path]) -> None:
    data, sequences, targets = sequences_npz(30, 1)
    response = http.post("/v1/models/keypoints/versions/1/evaluate", files={"dataset": ("set.npz", data)})
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["total"] == 30
    assert response.headers["location"] == accepted["status_url"]
    deadline = time.monotonic() + 20
    while (job := http.get(accepted["status_url"]).json())["status"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert job["status"] == "succeeded", job
    assert job["progress"] == {"done": 30, "total": 30}
    expected = expected_sequence_metrics(task_files["keypoints"], sequences, targets)
    assert job["result"]["metrics"]["model"]["mse"] == pytest.approx(expected["model"]["mse"], rel=1e-5)
    assert http.get("/v1/jobs/nonexistent").status_code == 404


@pytest.mark.parametrize(
    ("model", "data", "status", "message"),
    [
        ("keypoints", sequences_npz(41, 2)[0], 413, "POSECAST_MAX_EVAL_SAMPLES"),
        ("keypoints", b"not an npz", 400, "not a readable .npz"),
        ("pose", b"not an archive", 400, "zip or tar archive"),
        ("pose", archive({"images": [], "categories": [], "annotations": []}, {}, "zip"), 400, "keypoint category"),
        ("seqpose", b"", 400, "'sequence_pose' task"),
    ],
)
def test_bad_evaluation_uploads(http: httpx.Client, model: str, data: bytes, status: int, message: str) -> None:
    response = http.post(f"/v1/models/{model}/evaluate", files={"dataset": ("set", data)})
    assert response.status_code == status, response.text
    assert message in response.json()["error"]


def test_pck_of_arrays_equals_compute_pck(http: httpx.Client) -> None:
    rng = np.random.default_rng(4)
    truth = rng.uniform(0, 100, (5, 17, 2))
    predictions = truth + rng.normal(0, 5, truth.shape)
    visibility = rng.choice([0, 1, 2], (5, 17))
    visibility[0] = 0  # excluded: nothing labelled
    ground_truth = np.where(visibility[..., None] > 0, truth, np.nan)
    body = {
        "predictions": predictions.tolist(),
        "ground_truth": [[[None if np.isnan(v) else v for v in point] for point in person] for person in ground_truth],
        "visibility": visibility.tolist(),
        "normalizer": "bbox",
        "thresholds": [0.1, 0.5],
    }
    response = http.post("/v1/evaluate/pck", json=body)
    assert response.status_code == 200, response.text
    expected = compute_pck(predictions, ground_truth, visibility, thresholds=[0.1, 0.5], normalizer="bbox").to_dict()
    assert response.json() == {**expected, "matching": None}
    assert response.json()["excluded"] == {"no_labelled_keypoints": 1}


def test_pck_of_coco_files_equals_pck_from_coco(http: httpx.Client, tmp_path: Path) -> None:
    annotations, _ = coco_set(tmp_path)
    results = [
        {"image_id": a["image_id"], "category_id": 1, "score": 0.9, "keypoints": [v + 1 for v in a["keypoints"]]}
        for a in annotations["annotations"][:2]
    ]
    files = {"annotations": ("gt.json", json.dumps(annotations)), "results": ("res.json", json.dumps(results))}
    response = http.post("/v1/evaluate/pck", files=files, data={"thresholds": "0.05, 0.2", "normalizer": "bbox"})
    assert response.status_code == 200, response.text
    expected = pck_from_coco(annotations, results, thresholds=[0.05, 0.2], normalizer="bbox").to_dict()
    assert response.json() == expected
    assert response.json()["matching"]["unmatched_ground_truth"] == 1


def test_mse_equals_regression_metrics(http: httpx.Client) -> None:
    rng = np.random.default_rng(5)
    predictions, targets = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 2))
    response = http.post("/v1/evaluate/mse", json={"predictions": predictions.tolist(), "targets": targets.tolist()})
    assert response.json() == regression_metrics(predictions, targets).to_dict()


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/v1/evaluate/mse", {"predictions": [[1.0, 2.0]], "targets": [[1.0]]}, "targets must have shape"),
        ("/v1/evaluate/mse", {"predictions": [[1.0, float("nan")]], "targets": [[1.0, 2.0]]}, "NaN or inf"),
        (
            "/v1/evaluate/pck",
            {"predictions": [[[1, 2]]], "ground_truth": [[[1, 2], [3, 4]]], "visibility": [[2]]},
            "ground_truth must have shape",
        ),
        ("/v1/evaluate/pck", {"predictions": [[[1, 2]]], "ground_truth": [[[1, 2]]], "visibility": [[2]]}, "COCO-17"),
        (
            "/v1/evaluate/pck",
            {"predictions": [[[1, 2]]], "ground_truth": [[[1, 2]]], "visibility": [[3]]},
            "COCO flags",
        ),
    ],
)
def test_malformed_metric_requests(http: httpx.Client, path: str, body: dict[str, Any], message: str) -> None:
    response = http.post(path, content=json.dumps(body), headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert message in response.json()["error"]


def test_oks_route_gives_pycocotools_numbers(http: httpx.Client, tmp_path: Path) -> None:
    dataset, results = random_coco(3)
    files = {"annotations": ("gt.json", json.dumps(dataset)), "results": ("dt.json", json.dumps(results))}
    response = http.post("/v1/evaluate/oks", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    expected = pycocotools_eval(tmp_path, dataset, results).stats
    np.testing.assert_allclose([body[name] for name in STAT_NAMES], expected, rtol=0, atol=1e-6)
    assert body["detections"] == len(results)
    wrong = http.post("/v1/evaluate/oks", files=files, data={"sigmas": "0.1,0.2"})
    assert wrong.status_code == 400
    assert "sigma" in wrong.json()["error"]


def test_model_evaluation_reports_coco_keypoint_ap_as_pycocotools_scores_it(
    http: httpx.Client, task_files: Path, tmp_path: Path
) -> None:
    """Each scored person is cropped from its ground-truth box, predicted by the model and mapped back to image
    pixels; pycocotools scores those detections (mean confidence as the score) exactly as the server does."""
    annotations, images = coco_set(tmp_path)
    response = http.post(
        "/v1/models/pose/evaluate", files={"dataset": ("set.zip", archive(annotations, images, "zip"))}
    )
    assert response.status_code == 200, response.text
    served = response.json()["metrics"]["coco"]
    results = []
    for person in annotations["annotations"]:
        if person["iscrowd"]:
            continue
        image = Image.open(io.BytesIO(images[{1: "a.jpg", 2: "b.png"}[person["image_id"]]])).convert("RGB")
        points = np.array(person["keypoints"], np.float64).reshape(17, 3)
        crop, _, _, mapping = crop_person(image, grow_box(person["bbox"], CROP_MARGIN), points[:, :2] + 0.5,
                                          points[:, 2], POSE_SIZE, fill=pad_fill(PAD))  # fmt: skip
        outputs = reference(task_files["pose"], {"image": crop.transpose(2, 0, 1)[None]})
        in_image = mapping.to_source(outputs["keypoints"][0] * [POSE_SIZE[1], POSE_SIZE[0]]) - 0.5
        flat = np.concatenate([in_image, np.ones((17, 1))], axis=1).ravel().tolist()
        results.append({"image_id": person["image_id"], "category_id": 1, "keypoints": flat,
                        "score": float(outputs["confidence"][0].mean())})  # fmt: skip
    people = [  # what pycocotools needs that the file leaves out (our reader takes the box area and recounts)
        {**a, "area": a["bbox"][2] * a["bbox"][3], "num_keypoints": int(np.count_nonzero(a["keypoints"][2::3]))}
        for a in annotations["annotations"]
    ]
    truth = {**annotations, "annotations": people}
    expected = pycocotools_eval(tmp_path, truth, results).stats
    np.testing.assert_allclose([served[name] for name in STAT_NAMES], expected, rtol=0, atol=1e-5)
