"""`POST /v1/models/{name}/pose`: images in, keypoints in the images' own pixels (or a drawn PNG) out."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field, RootModel, ValidationError
from starlette.routing import Route

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
from service.api.common import coco_json, model_router, pose_response, require_task
from service.api.schemas import EXAMPLE_PNG, BoxItem, PoseRequest, PoseResponse
from service.errors import InvalidInput
from service.routing import in_thread_if_large, lease, repository_of, settings_of
from service.security import require_api_key
from service.tasks.draw import draw_people
from service.tasks.images import MEDIA_TYPES, encode_png
from service.tasks.pose import PoseOptions, estimate
from service.tasks.pose_inputs import Box

router = model_router()


class BoxList(RootModel[list[BoxItem]]):
    """The boxes of one image as a form field or query parameter carries them."""


POSE_DOC: dict[str, Any] = {
    "summary": "Keypoints of the people in one or more images",
    "description": "Send images as multipart files (any field name, e.g. `images`), as one raw `image/png`, "
    "`image/jpeg` or `image/webp` body, or as base64 in JSON. Without boxes each image is one person, "
    "letterboxed whole to the model's input. With person boxes `[x, y, w, h]` (JSON `boxes`, one list per image; "
    "a multipart `boxes` field per image, in the order of the files; the `boxes` query parameter for a raw body) "
    "each box is grown by `padding` to the input's aspect ratio and cropped, and `results[i].people` has one entry "
    "per box. Keypoints "
    "come back in the uploaded image's pixels. `Accept: image/png` or `?render=png` returns the single image with "
    "every skeleton drawn on it; `format=coco` a COCO keypoint results list.",
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


@dataclass(frozen=True)
class PoseUploads:
    """The uploads of a pose request, still encoded, in request order, and their person boxes if given."""

    blobs: list[bytes | str]
    boxes: list[list[Box]] | None


def parse_boxes(text: str, where: str) -> list[Box]:
    """A JSON list of [x, y, w, h] (a form field or the query string); values are checked with the request."""
    try:
        return list(BoxList.model_validate_json(text).root)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise InvalidInput(f"the {where} must be a JSON list of [x, y, w, h] boxes ({problem})") from None


async def read_uploads(request: Request, limit: int, boxes_query: str | None) -> PoseUploads:
    kind = media_type(request)
    blobs: list[bytes | str]
    boxes: list[list[Box]] | None = None
    if kind == MULTIPART:
        form = await read_form(request, limit)
        blobs = list(form.all_files())
        if "boxes" in form.texts:
            boxes = [parse_boxes(text, "boxes field") for text in form.texts["boxes"]]
    elif kind in MEDIA_TYPES:
        blobs = [await request.body()]
        if boxes_query is not None:
            boxes = [parse_boxes(boxes_query, "boxes query parameter")]
    elif kind == JSON:
        body = await request.body()
        parsed = await in_thread_if_large(len(body), validated, PoseRequest, body)
        blobs = list(parsed.images)
        boxes = None if parsed.boxes is None else [list(image_boxes) for image_boxes in parsed.boxes]
    else:
        raise unsupported(kind, [MULTIPART, *MEDIA_TYPES, JSON])
    check_count(len(blobs), limit, "images")
    if boxes_query is not None and kind not in MEDIA_TYPES:
        raise InvalidInput("the boxes query parameter goes with a raw image body; put boxes in the body here")
    return PoseUploads(blobs, boxes)


def wants_png(request: Request, render: str | None) -> bool:
    accepted = [part.split(";", 1)[0].strip().lower() for part in request.headers.get("accept", "").split(",")]
    return render == "png" or "image/png" in accepted


def parse_image_ids(text: str | None, count: int) -> list[int]:
    if text is None:
        return list(range(count))
    try:
        ids = [int(part) for part in text.split(",")]
    except ValueError:
        raise InvalidInput(f"image_ids must be comma-separated integers, got {text[:80]!r}") from None
    if len(ids) != count:
        raise InvalidInput(f"image_ids names {len(ids)} images; the request has {count}")
    return ids


class PoseQuery(BaseModel):
    """The query parameters of /pose as one model: FastAPI's route documents them, `serve_pose` validates them
    with one call."""

    render: Literal["png"] | None = Field(None, description="`png`: answer with the image, skeletons drawn.")
    min_confidence: float = Field(0.0, ge=0, le=1, description="Points below it are not drawn (PNG only).")
    boxes: str | None = Field(
        None, description="Raw image bodies: person boxes as a JSON list of [x, y, w, h] in image pixels."
    )
    padding: float | None = Field(
        None, ge=1, le=4, description="A box grows by this factor before cropping (default: the card's, 1.25)."
    )
    flip: bool | None = Field(None, description="Average with the mirrored crop (default: the card's).")
    format: Literal["posecast", "coco"] = Field(
        "posecast", description="`coco`: a COCO keypoint results list, as pycocotools and /v1/evaluate take it."
    )
    image_ids: str | None = Field(None, description="`format=coco`: comma-separated image ids (default 0, 1, ...).")


@router.post("/{name}/pose", **POSE_DOC)
async def pose(request: Request, name: str, query: Annotated[PoseQuery, Query()]) -> Response | PoseResponse:
    return await answer_pose(request, name, None, query)


@router.post("/{name}/versions/{version}/pose", **POSE_DOC)
async def pose_of_version(
    request: Request, name: str, version: str, query: Annotated[PoseQuery, Query()]
) -> Response | PoseResponse:
    return await answer_pose(request, name, version, query)


async def serve_pose(request: Request) -> Response:
    """/pose as a plain Starlette route, which `create_app` puts ahead of FastAPI's (as V2 infer): the same key
    check, query model and handler, without FastAPI's per-parameter dependency solving and response re-validation,
    a third of the event loop's CPU per request (in-process profile, 320x240 JPEG)."""
    await require_api_key(request)
    try:
        query = PoseQuery.model_validate(dict(request.query_params))
    except ValidationError as exc:
        raise RequestValidationError([{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]) from None
    answer = await answer_pose(request, request.path_params["name"], request.path_params.get("version"), query)
    if isinstance(answer, PoseResponse):
        return Response(answer.model_dump_json(), media_type="application/json")
    return answer


FAST_ROUTES = [
    Route(f"/v1/models/{{name}}{versions}/pose", serve_pose, methods=["POST"])
    for versions in ("", "/versions/{version}")
]


async def answer_pose(request: Request, name: str, version: str | None, query: PoseQuery) -> Response | PoseResponse:
    """The one /pose handler behind both routes: read the uploads, estimate, answer as JSON, COCO or a PNG."""
    started = time.perf_counter()
    settings = settings_of(request)
    uploads = await read_uploads(request, settings.max_images_per_request, query.boxes)
    png = wants_png(request, query.render)
    if png and len(uploads.blobs) != 1:
        raise InvalidInput(f"a PNG answer draws one image; the request has {len(uploads.blobs)} (ask for JSON instead)")
    ids = parse_image_ids(query.image_ids, len(uploads.blobs)) if query.format == "coco" else []
    options = PoseOptions(uploads.boxes, query.padding, query.flip, draw=png)
    async with lease(repository_of(request), name, version, request) as (served, infer):
        require_task(served.card, ("pose",), "pose")
        results = await estimate(
            infer, served.card, uploads.blobs, options, settings.max_image_pixels, served.max_request_batch_size
        )
    headers = {"X-Model-Name": served.name, "X-Model-Version": served.version}
    if png:
        drawn = await asyncio.to_thread(lambda: encode_png(draw_people(results[0], served.card, query.min_confidence)))
        return Response(drawn, media_type="image/png", headers=headers)
    if query.format == "coco":
        return Response(coco_json(results, ids), media_type="application/json", headers=headers)
    return pose_response(served, results, started)
