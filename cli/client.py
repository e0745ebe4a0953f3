"""The HTTP half of `posecast`: commands that call a running server's /v1 endpoints (httpx only)."""

from __future__ import annotations

import argparse
import io
import json
import mimetypes
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ENDPOINT_TASKS = {
    "pose": ("pose",),
    "forecast": ("forecast", "frames", "sequence_pose"),
    "evaluate": ("pose", "forecast", "frames"),
}


class ClientError(Exception):
    """An error answer or a bad argument: printed, exit status 1."""


def _check(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        try:
            message = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            message = response.text[:500]
        raise ClientError(f"HTTP {response.status_code}: {message}")
    return response


def _model_path(http: httpx.Client, args: argparse.Namespace, endpoint: str) -> str:
    """`/v1/models/<name>[/versions/<v>]`; without --model, the first served model doing a fitting task."""
    name = args.model
    if name is None:
        listing = _check(http.get("/v1/models")).json()
        fitting = [info["name"] for info in listing if info["task"] in ENDPOINT_TASKS[endpoint]]
        if not fitting:
            raise ClientError(f"the server serves no model for `{endpoint}`; pass --model")
        name = fitting[0]
    return f"/v1/models/{name}" + (f"/versions/{args.version}" if args.version else "")


def _files(paths: list[Path], field: str) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [
        (field, (path.name, path.read_bytes(), mimetypes.guess_type(path.name)[0] or "application/octet-stream"))
        for path in paths
    ]


def _npy_bytes(path: Path) -> bytes:
    """.npy as is; .json (nested lists) converted, so both work."""
    if path.suffix == ".npy":
        return path.read_bytes()
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(json.loads(path.read_text()), dtype=np.float32))
    return buffer.getvalue()


def pose(http: httpx.Client, args: argparse.Namespace) -> Any:
    path = _model_path(http, args, "pose") + "/pose"
    params: dict[str, str] = {"format": args.format}
    params |= {"flip": "true"} if args.flip else {}
    params |= {"padding": str(args.padding)} if args.padding else {}
    fields = {"boxes": [json.dumps(json.loads(text)) for text in args.boxes]} if args.boxes else {}
    files = _files(args.images, "images")
    if args.render:
        if len(args.images) != 1:
            raise ClientError("--render draws one image; pass exactly one")
        response = _check(http.post(path, files=files, data=fields, params=params | {"render": "png"}))
        args.render.write_bytes(response.content)
        return {"written": str(args.render), "bytes": len(response.content)}
    return _check(http.post(path, files=files, data=fields, params=params)).json()


def forecast(http: httpx.Client, args: argparse.Namespace) -> Any:
    path = _model_path(http, args, "forecast") + "/forecast"
    fields = {"frames_as": args.frames_as} | ({"horizon": str(args.horizon)} if args.horizon else {})
    fields |= {"intervals": args.intervals} if args.intervals else {}
    if args.sequence.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"):
        files = _files([args.sequence, *args.more_frames], "frames")
    else:
        files = [("sequence", (args.sequence.name, _npy_bytes(args.sequence), "application/octet-stream"))]
    return _check(http.post(path, files=files, data=fields)).json()


def evaluate(http: httpx.Client, args: argparse.Namespace) -> Any:
    if args.metric == "pck":
        fields = {
            key: value for key, value in (("thresholds", args.thresholds), ("normalizer", args.normalizer)) if value
        }
        files = _files([args.annotations], "annotations") + _files([args.results], "results")
        return _check(http.post("/v1/evaluate/pck", files=files, data=fields)).json()
    if args.metric == "oks":
        files = _files([args.annotations], "annotations") + _files([args.results], "results")
        return _check(http.post("/v1/evaluate/oks", files=files)).json()
    if args.metric == "mse":
        predictions, targets = (np.load(path, allow_pickle=False).tolist() for path in args.files)
        return _check(http.post("/v1/evaluate/mse", json={"predictions": predictions, "targets": targets})).json()
    path = _model_path(http, args, "evaluate") + "/evaluate"
    response = _check(http.post(path, files=_files(args.files, "dataset")))
    if response.status_code != 202:
        return response.json()
    status_url = response.json()["status_url"]
    while True:  # a job: poll until it ends
        job = _check(http.get(status_url)).json()
        if job["status"] != "running":
            if job["status"] == "failed":
                raise ClientError(f"evaluation job failed: {job['error']}")
            return job["result"]
        print(f"{job['progress']['done']}/{job['progress']['total']}", file=sys.stderr)
        time.sleep(args.poll_s)


def add_commands(commands: Any) -> None:
    """The HTTP subcommands, on the `posecast` parser's subparsers."""
    commands.add_parser("models", help="list the served models")

    def with_model(name: str, text: str) -> argparse.ArgumentParser:
        command: argparse.ArgumentParser = commands.add_parser(name, help=text)
        command.add_argument("--model", help="model name (default: the first served one that fits)")
        command.add_argument("--version", help="pin a version (default: the highest ready one)")
        return command

    pose_command = with_model("pose", "keypoints of people in images")
    pose_command.add_argument("images", type=Path, nargs="+")
    pose_command.add_argument("--render", type=Path, help="write the image with the skeletons drawn to this PNG")
    pose_command.add_argument(
        "--boxes", action="append", help="person boxes of one image as JSON [[x, y, w, h], ...]; once per image"
    )
    pose_command.add_argument("--padding", type=float, help="box growth factor (default: the model's)")
    pose_command.add_argument("--flip", action="store_true", help="average with the mirrored crop")
    pose_command.add_argument("--format", choices=("posecast", "coco"), default="posecast")
    forecast_command = with_model("forecast", "forecast a sequence (.npy/.json array, or frame images)")
    forecast_command.add_argument("sequence", type=Path)
    forecast_command.add_argument("more_frames", type=Path, nargs="*", help="further frames, when images")
    forecast_command.add_argument("--horizon", type=int)
    forecast_command.add_argument("--frames-as", choices=("array", "png"), default="array")
    forecast_command.add_argument("--intervals", help="prediction interval levels, e.g. 0.8,0.95")
    evaluate_command = with_model("evaluate", "PCK, COCO keypoint AP (oks), MSE, or a served model on a labelled set")
    evaluate_command.add_argument("metric", choices=("pck", "oks", "mse", "model"))
    evaluate_command.add_argument("files", type=Path, nargs="*", help="mse: predictions.npy targets.npy; model: a set")
    evaluate_command.add_argument("--annotations", type=Path, help="pck, oks: COCO keypoint annotation file")
    evaluate_command.add_argument("--results", type=Path, help="pck, oks: COCO results file")
    evaluate_command.add_argument("--thresholds", help="pck: comma list, default 0.05,0.1,0.2")
    evaluate_command.add_argument("--normalizer", choices=("torso", "bbox", "head"))
    evaluate_command.add_argument("--poll-s", type=float, default=1.0, help="model: seconds between job polls")


def _check_arguments(args: argparse.Namespace) -> None:
    if args.command != "evaluate":
        return
    if args.metric in ("pck", "oks") and (args.annotations is None or args.results is None):
        raise ClientError(f"evaluate {args.metric} needs --annotations and --results (COCO files)")
    count = {"pck": 0, "oks": 0, "mse": 2, "model": 1}[args.metric]
    if len(args.files) != count:
        usage = {"mse": "predictions.npy targets.npy", "model": "one dataset file"}.get(
            args.metric, "no positional files"
        )
        raise ClientError(f"evaluate {args.metric} takes {usage}, got {len(args.files)} files")


def call(args: argparse.Namespace) -> Any:
    """Run one HTTP command; its JSON answer."""
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    commands = {"pose": pose, "forecast": forecast, "evaluate": evaluate}
    _check_arguments(args)
    with httpx.Client(base_url=args.url, headers=headers, timeout=args.timeout) as http:
        if args.command == "models":
            return _check(http.get("/v1/models")).json()
        return commands[args.command](http, args)
