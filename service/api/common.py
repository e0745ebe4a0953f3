"""What the /v1 route modules share: the model router, task checks, timing and the pose answer."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from fastapi import APIRouter, Depends
from pydantic import TypeAdapter

from modelcard import ModelCard
from modelcard.letterbox import COCO_INDEX_TO_CONTINUOUS
from service.api.schemas import CocoKeypointResult, Keypoint, Person, PoseResponse, PoseResult
from service.errors import InvalidInput
from service.model import ServedModel
from service.security import require_api_key
from service.tasks.pose import ImagePoses, Keypoints, keypoint_names, skeleton

_COCO_RESULTS = TypeAdapter(list[CocoKeypointResult])
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


def pose_response(served: ServedModel, results: Sequence[ImagePoses], started: float) -> PoseResponse:
    """The JSON answer; the only place keypoints become Python lists."""
    count = next((len(person.confidence) for result in results for person in result.people), 0)
    names = keypoint_names(served.card, count)

    def listed(person: Keypoints) -> list[Keypoint]:
        points, confidence = person.points.tolist(), person.confidence.tolist()
        rows = zip(names, points, confidence, strict=True)
        return [Keypoint(name=name, x=x, y=y, confidence=c) for name, (x, y), c in rows]

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
                people=[
                    Person(box=person.box, score=person.score, keypoints=listed(person))
                    for person in result.people
                    if person.box is not None  # every person of a boxed result has one
                ]
                if result.boxed
                else None,
                keypoints=None if result.boxed else listed(result.people[0]),
            )
            for result in results
        ],
    )


def coco_json(results: Sequence[ImagePoses], image_ids: Sequence[int]) -> bytes:
    """Everyone found, as a COCO keypoint results list (x, y in COCO's pixel-index convention) in JSON: a value a
    model left non-finite is null, as in the default format, rather than a body JSON cannot hold."""
    return _COCO_RESULTS.dump_json(
        [
            CocoKeypointResult(
                image_id=image_id,
                keypoints=np.column_stack([person.points - COCO_INDEX_TO_CONTINUOUS, person.confidence])
                .ravel()
                .tolist(),
                score=person.score,
            )
            for result, image_id in zip(results, image_ids, strict=True)
            for person in result.people
        ]
    )
