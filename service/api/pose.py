"""`POST /v1/models/{name}/pose`: images in, keypoints in the images' own pixels (or a drawn PNG) out."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

import numpy as np
from fastapi import Query, Request, Response

from service.api.bodies import (
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
from service.api.common import model_router, pose_response, require_task
from service.api.schemas import EXAMPLE_PNG, PoseRequest, PoseResponse
from service.errors import InvalidInput
from service.routing import in_thread_if_large, lease, repository_of, settings_of
from service.tasks.draw import draw_skeleton
from service.tasks.images import MEDIA_TYPES, encode_png
from service.tasks.pose import prepare_images, run_pose, skeleton

router = model_router()

POSE_DOC: dict[str, Any] = {
    "summary": "Keypoints of the people in one or more images",
    "description": "Send images as multipart files (any field name, e.g. `images`), as one raw `image/png`, "
    "`image/jpeg` or `image/webp` body, or as base64 in JSON. Each is letterboxed to the model's input as in "
    "training; keypoints come back in the uploaded image's pixels. `Accept: image/png` or `?render=png` "
    "returns the single image with the skeleton drawn on it.",
    "response_model": PoseResponse,
    "responses": {200: {"content": {"image/png": {}}}, **errors(400, 401, 404, 413, 415, 503, 504)},
    "openapi_extra": request_body(
        PoseRequest,
        {"images": [EXAMPLE_PNG]},
        multipart={"images": FILES},
        raw=list(MEDIA_TYPES),
        multipart_required=["images"],
    ),
}


async def read_images(request: Request, limit: int) -> list[bytes | str]:
    """The uploads of a pose request, still encoded, in request order."""
    kind = media_type(request)
    blobs: list[bytes | str]
    if kind == MULTIPART:
        blobs = list((await read_form(request, limit)).all_files())
    elif kind in MEDIA_TYPES:
        blobs = [await request.body()]
    elif kind == JSON:
        body = await request.body()
        blobs = list((await in_thread_if_large(len(body), validated, PoseRequest, body)).images)
    else:
        raise unsupported(kind, [MULTIPART, *MEDIA_TYPES, JSON])
    check_count(len(blobs), limit, "images")
    return blobs


def wants_png(request: Request, render: str | None) -> bool:
    accepted = [part.split(";", 1)[0].strip().lower() for part in request.headers.get("accept", "").split(",")]
    return render == "png" or "image/png" in accepted


@router.post("/{name}/pose", **POSE_DOC)
@router.post("/{name}/versions/{version}/pose", **POSE_DOC)
async def pose(
    request: Request,
    name: str,
    version: str | None = None,
    render: Literal["png"] | None = Query(None, description="`png`: answer with the image, skeleton drawn."),
    min_confidence: float = Query(0.0, ge=0, le=1, description="Points below it are not drawn (PNG only)."),
) -> Response | PoseResponse:
    started = time.perf_counter()
    settings = settings_of(request)
    blobs = await read_images(request, settings.max_images_per_request)
    png = wants_png(request, render)
    if png and len(blobs) != 1:
        raise InvalidInput(f"a PNG answer draws one image; the request has {len(blobs)} (ask for JSON instead)")
    async with lease(repository_of(request), name, version, request) as (served, infer):
        require_task(served.card, ("pose",), "pose")
        prepared = await asyncio.to_thread(prepare_images, blobs, served.card, settings.max_image_pixels)
        batch = np.stack([item.tensor for item in prepared])  # (N, 3, H, W): one shape for every upload
        mappings = [(item.letterbox, item.image.size) for item in prepared]
        results = await run_pose(infer, served.card, batch, mappings)
    if png:
        edges = skeleton(served.card, len(results[0].confidence))
        drawn = await asyncio.to_thread(
            lambda: encode_png(draw_skeleton(prepared[0].image, results[0], edges, min_confidence))
        )
        headers = {"X-Model-Name": served.name, "X-Model-Version": served.version}
        return Response(drawn, media_type="image/png", headers=headers)
    return pose_response(served, results, started)
