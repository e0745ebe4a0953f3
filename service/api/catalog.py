"""`GET /v1/models`: what each served model takes, for the demo page, the CLI and people."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from service.api.bodies import errors
from service.api.common import model_router
from service.api.schemas import BaselineComparison, ModelInfo
from service.errors import InvalidInput
from service.model import ServedModel
from service.routing import repository_of
from service.tasks.forecast import horizon_limit, length_bounds, step_shape
from service.tasks.pose import IMAGE_TASKS
from service.tasks.pose_inputs import input_size

router = model_router()


def describe(served: ServedModel, versions: list[str]) -> ModelInfo:
    card = served.card
    images = card.task in IMAGE_TASKS
    sequences = card.task != "pose"
    low, high = length_bounds(card) if sequences else (None, None)
    try:
        size = input_size(card) if images else None
        horizon = horizon_limit(card) if card.task in ("forecast", "frames") else None
        step = list(step_shape(card)) if sequences else None
    except InvalidInput:  # a card the task endpoints cannot serve; V2 still can
        size = horizon = step = None
    return ModelInfo(
        name=served.name,
        version=served.version,
        versions=versions,
        task=card.task,
        description=card.description,
        input_size=size,
        step_shape=step,
        min_input_length=low,
        max_input_length=high,
        max_horizon=horizon,
        keypoint_names=card.keypoint_names,
        skeleton=card.skeleton,
        interval_levels=sorted(float(level) for level in card.intervals.half_widths) if card.intervals else None,
        versus_baseline=_versus_baseline(card.metrics),
    )


def _versus_baseline(metrics: dict[str, Any]) -> BaselineComparison | None:
    best = metrics.get("best_baseline")
    if best is None:
        return None
    return BaselineComparison(
        baseline=best["name"], baseline_rmse=best["rmse"], model_rmse=best["model_rmse"], ratio=best["ratio"]
    )


@router.get(
    "",
    summary="Served models and what their task endpoints take",
    response_model=list[ModelInfo],
    responses=errors(401),
)
async def list_models(request: Request) -> list[ModelInfo]:
    repository = repository_of(request)
    listing = []
    for name in sorted({served.name for served in repository.served()}):
        versions = sorted((s.version for s in repository.served() if s.name == name), key=int)
        listing.append(describe(repository.get(name), versions))
    return listing
