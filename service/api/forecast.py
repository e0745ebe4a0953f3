"""`POST /v1/models/{name}/forecast`: a keypoint, series or frame sequence in, the next steps out.

A frame sequence sent to a `sequence_pose` model answers like the pose endpoint instead.
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

import numpy as np
import numpy.typing as npt
from fastapi import Request
from PIL import Image

from service.api.bodies import (
    FILE,
    FILES,
    JSON,
    MULTIPART,
    check_count,
    errors,
    media_type,
    read_form,
    request_body,
    unsupported,
    validated,
)
from service.api.common import elapsed_ms, model_router, pose_response, require_task
from service.api.schemas import EXAMPLE_SEQUENCE, ForecastRequest, ForecastResponse, IntervalBounds, PoseResponse
from service.errors import InvalidInput
from service.model import Infer, ServedModel
from service.routing import in_thread_if_large, lease, repository_of, settings_of
from service.tasks.arrays import load_npy, parse_array
from service.tasks.forecast import SEQUENCE_TASKS, frames_from_images
from service.tasks.forecast import forecast as forecast_steps
from service.tasks.images import PixelBudget, decode_image, encode_png
from service.tasks.pose import keypoint_names, last_frame_pose, skeleton

router = model_router()

FORECAST_DOC: dict[str, Any] = {
    "summary": "Forecast the next steps of a sequence",
    "description": "JSON: `sequence` (T, *step_shape) or `frames` (base64 images), and `horizon`. Multipart: a "
    "`sequence` .npy file or `frames` image files, with `horizon` and `frames_as` fields. The step shape, "
    "length limits and max_horizon are in `GET /v1/models`. Frame forecasts can come back as PNGs "
    "(`frames_as: png`). A `sequence_pose` model takes frames and answers like the pose endpoint.",
    "response_model": ForecastResponse | PoseResponse,
    "responses": errors(400, 401, 404, 413, 415, 503, 504),
    "openapi_extra": request_body(
        ForecastRequest,
        {"sequence": EXAMPLE_SEQUENCE, "horizon": 3},
        multipart={
            "sequence": FILE,
            "frames": FILES,
            "horizon": {"type": "integer", "minimum": 1},
            "frames_as": {"type": "string", "enum": ["array", "png"]},
            "intervals": {"type": "string", "description": "comma list of levels, e.g. 0.8,0.95"},
        },
    ),
}


async def read_request(request: Request, limit: int) -> tuple[ForecastRequest, bytes | None, list[bytes | str]]:
    """The options, a .npy upload if any, and frame images if any."""
    kind = media_type(request)
    if kind == JSON:
        raw = await request.body()
        body = await in_thread_if_large(len(raw), validated, ForecastRequest, raw)
        return body, None, list(body.frames or [])
    if kind != MULTIPART:
        raise unsupported(kind, [JSON, MULTIPART])
    form = await read_form(request, limit)
    unknown = set(form.files) - {"sequence", "frames"}
    if unknown or len(form.files.get("sequence", [])) > 1:
        raise InvalidInput(
            f"multipart files must be one `sequence` (.npy) or `frames` images, got {sorted(form.files)}"
        )
    npy = form.files.get("sequence", [None])[0]
    fields: dict[str, Any] = dict(form.fields)
    if "intervals" in fields:  # a comma list in a form field, e.g. "0.8,0.95"
        fields["intervals"] = [level for level in fields["intervals"].split(",") if level.strip()]
    return validated(ForecastRequest, fields), npy, list(form.files.get("frames", []))


def client_array(body: ForecastRequest, npy: bytes | None) -> npt.NDArray[np.float64]:
    """Blocking: the sequence as an array, from JSON lists or a .npy file."""
    if npy is not None:
        return load_npy(npy, "sequence")
    return parse_array(body.sequence, "sequence", "(T, *step_shape)")


@router.post("/{name}/forecast", **FORECAST_DOC)
@router.post("/{name}/versions/{version}/forecast", **FORECAST_DOC)
async def forecast(request: Request, name: str, version: str | None = None) -> ForecastResponse | PoseResponse:
    started = time.perf_counter()
    settings = settings_of(request)
    body, npy, frames = await read_request(request, settings.max_images_per_request)
    if sum([body.sequence is not None, npy is not None, bool(frames)]) != 1:
        raise InvalidInput("send exactly one of `sequence` (numbers or a .npy file) and `frames` (images)")
    if frames:
        check_count(len(frames), settings.max_images_per_request, "frames")
    async with lease(repository_of(request), name, version, request) as (served, infer):
        card = served.card
        require_task(card, SEQUENCE_TASKS, "forecast")
        if card.task == "sequence_pose":
            if body.horizon is not None:
                raise InvalidInput(f"model '{name}' finds keypoints in the last frame; it takes no horizon")
            return await _sequence_pose(request, served, infer, body, npy, frames, started)
        if frames:
            if card.task != "frames":
                raise InvalidInput(f"model '{name}' forecasts {card.task} sequences, not images; send `sequence`")
            images = await asyncio.to_thread(_decode_all, frames, settings.max_image_pixels)
            array: npt.NDArray[np.floating] = await asyncio.to_thread(frames_from_images, images, card)
        else:
            array = await asyncio.to_thread(client_array, body, npy)
        result = await forecast_steps(infer, card, array, body.horizon, body.intervals or [])
    steps, bounds = result.steps, result.bounds
    as_png = card.task == "frames" and body.frames_as == "png"
    count = steps.shape[1] if card.keypoint_names and steps.ndim == 3 else 0
    return ForecastResponse(
        model_name=served.name,
        model_version=served.version,
        task=card.task,
        time_ms=elapsed_ms(started),
        horizon=len(steps),
        shape=list(steps.shape),
        forecast=None if as_png else steps.tolist(),
        frames_png=await asyncio.to_thread(_pngs, steps) if as_png else None,
        intervals={
            level: IntervalBounds(lower=low.tolist(), upper=high.tolist()) for level, (low, high) in bounds.items()
        }
        if bounds
        else None,
        keypoint_names=keypoint_names(card, count) if count else None,
        skeleton=skeleton(card, count) if count else None,
    )


async def _sequence_pose(
    request: Request,
    served: ServedModel,
    infer: Infer,
    body: ForecastRequest,
    npy: bytes | None,
    frames: list[bytes | str],
    started: float,
) -> PoseResponse:
    """Keypoints of the last frame, in that frame's pixels (input pixels when frames came as an array)."""
    array = None if frames else await asyncio.to_thread(client_array, body, npy)
    found = await last_frame_pose(infer, served.card, frames, array, settings_of(request).max_image_pixels)
    return pose_response(served, [found], started)


def _decode_all(frames: list[bytes | str], max_pixels: int) -> list[Image.Image]:
    budget = PixelBudget(max_pixels)
    return [decode_image(data, budget, f"frame {i}") for i, data in enumerate(frames)]


def _pngs(steps: npt.NDArray[np.float32]) -> list[str]:
    return [base64.b64encode(encode_png(frame)).decode("ascii") for frame in steps]
