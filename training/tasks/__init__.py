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


def task_for(card_task: str) -> Task:
    try:
        return TASKS[card_task]()
    except KeyError:
        raise ValueError(f"no training task {card_task!r}; known: {sorted(TASKS)}") from None
