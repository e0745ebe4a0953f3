"""What the /v1 route modules share: the model router, task checks, timing and the pose answer."""

from __future__ import annotations

import time
from collections.abc import Sequence

from fastapi import APIRouter, Depends

from modelcard import ModelCard
from service.api.schemas import Keypoint, PoseResponse, PoseResult
from service.errors import InvalidInput
from service.model import ServedModel
from service.security import require_api_key
from service.tasks.pose import Keypoints, keypoint_names, skeleton

ENDPOINT_OF_TASK = {"pose": "pose", "sequence_pose": "forecast", "forecast": "forecast", "frames": "forecast"}


def model_router() -> APIRouter:
    """Routes under /v1/models, behind the API key like the V2 model routes."""
    return APIRouter(prefix="/v1/models", tags=["tasks"], dependencies=[Depends(require_api_key)])


def require_task(card: ModelCard, tasks: Sequence[str], endpoint: str) -> None:
    """400 that names the endpoint the model does serve."""
    if card.task not in tasks:
        right = ENDPOINT_OF_TASK.get(card.task)
        hint = f"; send it to /v1/models/{card.name}/{right}" if right and right != endpoint else ""
        raise InvalidInput(
            f"model '{card.name}' does the '{card.task}' task; /{endpoint} takes models of tasks {list(tasks)}{hint}"
        )


def elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def pose_response(served: ServedModel, results: Sequence[Keypoints], started: float) -> PoseResponse:
    """The JSON answer; the only place keypoints become Python lists."""
    count = len(results[0].confidence)
    names = keypoint_names(served.card, count)
    return PoseResponse(
        model_name=served.name,
        model_version=served.version,
        task=served.card.task,
        time_ms=elapsed_ms(started),
        keypoint_names=names,
        skeleton=skeleton(served.card, count),
        results=[
            PoseResult(
                width=result.width,
                height=result.height,
                keypoints=[
                    Keypoint(name=name, x=x, y=y, confidence=c)
                    for name, (x, y), c in zip(names, result.points.tolist(), result.confidence.tolist(), strict=True)
                ],
            )
            for result in results
        ],
    )
