"""Tasks by the model-card name the service knows them by, and which registered network does which."""

from __future__ import annotations

from training.tasks.base import Task
from training.tasks.pose import PoseTask, SequencePoseTask
from training.tasks.sequences import ForecastTask, FramesTask

TASKS: dict[str, type[Task]] = {
    "pose": PoseTask,
    "sequence_pose": SequencePoseTask,
    "forecast": ForecastTask,
    "frames": FramesTask,
}


def task_for(card_task: str, loss: dict[str, float] | None = None) -> Task:
    """The task, with the `[loss]` settings of a config (each task states which ones it takes)."""
    try:
        task = TASKS[card_task]
    except KeyError:
        raise ValueError(f"no training task {card_task!r}; known: {sorted(TASKS)}") from None
    try:
        return task(**(loss or {}))
    except TypeError as error:  # an unknown keyword: name the task and what it was given
        raise ValueError(f"bad [loss] settings {loss} for the {card_task!r} task: {error}") from None
