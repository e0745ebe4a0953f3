"""Evaluation endpoints: PCK and MSE of client arrays or COCO files, and a served model on an uploaded set.

Every number comes from `evaluation` (via `service.tasks.evaluate`), the code the training CLI reports with.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import JSONResponse

from service.api.bodies import (
    FILE,
    JSON,
    MULTIPART,
    errors,
    media_type,
    read_form,
    request_body,
    unsupported,
    validated,
)
from service.api.common import elapsed_ms, model_router, require_task
from service.api.schemas import (
    EvaluationResponse,
    JobAccepted,
    JobView,
    KeypointAPResponse,
    MSERequest,
    MSEResponse,
    PCKRequest,
    PCKResponse,
)
from service.errors import InvalidInput, PayloadTooLarge
from service.jobs import JobManager
from service.repository import ModelRepository
from service.routing import lease, read_archive, repository_of, settings_of
from service.security import key_owner, require_api_key
from service.tasks import evaluate as metrics
from service.tasks.arrays import load_json, parse_array
from service.tasks.evalsets import PoseSet, SequenceSet, SetLimits, read_pose_set, read_sequence_set

router = APIRouter(prefix="/v1", tags=["evaluation"], dependencies=[Depends(require_api_key)])
models = model_router()


@router.post(
    "/evaluate/pck",
    summary="PCK of predicted keypoints against ground truth",
    description="JSON arrays in pixels, or multipart COCO files: `annotations` (a keypoint annotation file) and "
    "`results` (a results list), with optional `thresholds` (comma list) and `normalizer` fields.",
    response_model=PCKResponse,
    responses=errors(400, 401, 413, 415),
    openapi_extra=request_body(
        PCKRequest,
        {
            "predictions": [[[10, 10], [20, 20]]],
            "ground_truth": [[[10, 11], [30, 20]]],
            "visibility": [[2, 2]],
            "normalizer": [10.0],
        },
        multipart={
            "annotations": FILE,
            "results": FILE,
            "thresholds": {"type": "string"},
            "normalizer": {"type": "string"},
        },
    ),
)
async def pck(request: Request) -> dict[str, Any]:
    kind = media_type(request)
    if kind == JSON:
        body = validated(PCKRequest, await request.body())
        return await asyncio.to_thread(_pck_of_arrays, body)
    if kind != MULTIPART:
        raise unsupported(kind, [JSON, MULTIPART])
    annotations, results, fields = await _coco_files(request)
    options: dict[str, Any] = {}
    if "thresholds" in fields:
        options["thresholds"] = _numbers(fields["thresholds"], "thresholds")
    if "normalizer" in fields:
        options["normalizer"] = fields["normalizer"]
    return await asyncio.to_thread(metrics.pck_coco, annotations, results, **options)


@router.post(
    "/evaluate/oks",
    summary="COCO keypoint AP and AR (OKS) of a results file against an annotation file",
    description="Multipart COCO files: `annotations` (a keypoint annotation file) and `results` (a results list, "
    "as pycocotools takes it), with optional `sigmas` (comma list, one per keypoint; COCO-17's by default). The "
    "numbers are pycocotools' COCOeval(..., 'keypoints') summary.",
    response_model=KeypointAPResponse,
    responses=errors(400, 401, 413, 415),
    openapi_extra=request_body(
        None,
        None,
        multipart={"annotations": FILE, "results": FILE, "sigmas": {"type": "string"}},
        multipart_required=["annotations", "results"],
    ),
)
async def oks(request: Request) -> dict[str, Any]:
    kind = media_type(request)
    if kind != MULTIPART:
        raise unsupported(kind, [MULTIPART])
    annotations, results, fields = await _coco_files(request)
    sigmas = _numbers(fields["sigmas"], "sigmas") if "sigmas" in fields else None
    return await asyncio.to_thread(metrics.keypoint_ap_coco, annotations, results, sigmas)


async def _coco_files(request: Request) -> tuple[Any, Any, dict[str, str]]:
    """The parsed `annotations` and `results` documents of a multipart COCO upload, and its text fields."""
    form = await read_form(request, 2)
    missing = {"annotations", "results"} - form.files.keys()
    if missing:
        raise InvalidInput(f"COCO evaluation needs files `annotations` and `results`; missing {sorted(missing)}")
    annotations, results = (load_json(form.files[key][0], f"`{key}`") for key in ("annotations", "results"))
    return annotations, results, form.fields


@router.post(
    "/evaluate/mse",
    summary="MSE, RMSE and MAE of forecasts against targets",
    response_model=MSEResponse,
    responses=errors(400, 401, 413),
)
async def mse(body: MSERequest) -> dict[str, Any]:
    return await asyncio.to_thread(metrics.mse_arrays, body.predictions, body.targets)


EVALUATE_DOC: dict[str, Any] = {
    "summary": "Evaluate the served model on an uploaded labelled set",
    "description": "`dataset`: for pose models a zip or tar of one COCO keypoints JSON and its images; for "
    "forecast and frames models an .npz with `sequences` (N, T, ...) and `targets` (N, H, ...). Returns the "
    "CLI's metrics with the baselines beside them; sets over POSECAST_EVAL_SYNC_MAX_SAMPLES run as a job "
    "(202, then poll `GET /v1/jobs/{id}`).",
    "response_model": EvaluationResponse,
    "responses": {202: {"model": JobAccepted, "description": "Started as a job."}, **errors(400, 401, 404, 413, 503)},
}


@models.post("/{name}/evaluate", **EVALUATE_DOC)
@models.post("/{name}/versions/{version}/evaluate", **EVALUATE_DOC)
async def evaluate_model(
    request: Request,
    name: str,
    dataset: Annotated[UploadFile, File(description="COCO zip/tar (pose) or .npz (forecast, frames).")],
    version: str | None = None,
) -> Any:
    started = time.perf_counter()
    settings = settings_of(request)
    if dataset.size is not None and dataset.size > settings.max_eval_upload_bytes:
        raise PayloadTooLarge(
            f"the dataset is {dataset.size} bytes; the limit is {settings.max_eval_upload_bytes} "
            "(POSECAST_MAX_EVAL_UPLOAD_BYTES)"
        )
    data = await dataset.read()
    limits = SetLimits(
        settings.max_eval_unpacked_bytes,
        settings.max_eval_samples,
        settings.max_image_pixels,
        settings.max_eval_annotation_bytes,
    )
    repository = repository_of(request)
    served = repository.get(name, version)
    require_task(served.card, ("pose", "forecast", "frames"), "evaluate")
    jobs: JobManager = request.app.state.jobs
    with jobs.slot():
        labelled: PoseSet | SequenceSet
        if served.card.task == "pose":
            labelled = await read_archive(request, partial(read_pose_set, data, limits))
        else:
            labelled = await read_archive(request, lambda _: read_sequence_set(data, limits))
        batch = min(settings.max_batch_size, served.max_request_batch_size)
        run = partial(_run, repository, name, served.version, labelled, batch, settings.max_image_pixels)
        if labelled.count <= settings.eval_sync_max_samples:
            return await run(started, lambda done: None)
        description = f"evaluate {name} version {served.version}"
        job = jobs.submit(
            description,
            labelled.count,
            key_owner(request),
            lambda job: run(time.perf_counter(), partial(jobs.advance, job)),
        )
    accepted = JobAccepted(job_id=job.id, status_url=f"/v1/jobs/{job.id}", total=job.total)
    return JSONResponse(accepted.model_dump(), status_code=202, headers={"Location": accepted.status_url})


@router.get(
    "/jobs/{job_id}",
    summary="Progress and result of an evaluation job",
    response_model=JobView,
    responses=errors(401, 404),
)
async def job_status(request: Request, job_id: str) -> dict[str, Any]:
    jobs: JobManager = request.app.state.jobs
    return jobs.get(job_id, key_owner(request)).view()


async def _run(
    repository: ModelRepository,
    name: str,
    version: str,
    labelled: PoseSet | SequenceSet,
    batch_size: int,
    max_pixels: int,
    started: float,
    progress: Callable[[int], None],
) -> dict[str, Any]:
    """Hold a lease on the version for the whole set; `progress` hears how many samples are done."""
    async with lease(repository, name, version, None) as (served, infer):
        if isinstance(labelled, PoseSet):
            result = await metrics.evaluate_pose(infer, served.card, labelled, batch_size, max_pixels, progress)
        else:
            result = await metrics.evaluate_sequences(infer, served.card, labelled, batch_size, progress)
    response = EvaluationResponse(
        model_name=name, model_version=version, task=served.card.task, time_ms=elapsed_ms(started), metrics=result
    )
    return response.model_dump()


def _pck_of_arrays(body: PCKRequest) -> dict[str, Any]:
    """Blocking: `compute_pck` on the JSON lists; JSON's null becomes NaN where NaN means "unknown"."""
    arguments = body.model_dump(exclude_none=True)
    arguments["ground_truth"] = parse_array(body.ground_truth, "ground_truth", "(N, K, 2)")
    if isinstance(body.normalizer, list):
        arguments["normalizer"] = parse_array(body.normalizer, "normalizer", "(N,)")
    if body.head_sizes is not None:
        arguments["head_sizes"] = parse_array(body.head_sizes, "head_sizes", "(N,)")
    return metrics.pck_arrays(**arguments)


def _numbers(text: str, label: str) -> list[float]:
    try:
        return [float(item) for item in text.replace(" ", "").split(",") if item]
    except ValueError:
        raise InvalidInput(f"{label} must be a comma-separated list of numbers, got {text!r}") from None
