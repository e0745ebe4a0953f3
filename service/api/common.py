"""What the /v1 route modules share: the model lookup, task checks and timing."""

from __future__ import annotations

import time
from collections.abc import Sequence

from fastapi import APIRouter, Depends

from modelcard import ModelCard
from service.errors import InvalidInput
from service.security import require_api_key

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
