"""What a task tells the training loop: its data, its loss, how to evaluate it and what goes on its model card."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch.utils.data import Dataset

from modelcard import ForecastIntervals
from models import PosecastModel
from training.config import TrainConfig

Arrays = dict[str, npt.NDArray[Any]]
# A predictor maps the graph's inputs (numpy, batch first) to its outputs: a torch model or an ONNX session.
Predictor = Callable[[list[npt.NDArray[np.float32]]], list[npt.NDArray[np.float32]]]


@dataclass
class TaskData:
    """Datasets of one run. `test` stays numpy so torch and onnxruntime are evaluated on identical inputs."""

    train: Dataset[Any]
    val: Dataset[Any]
    test: Arrays
    model_overrides: dict[str, Any] = field(default_factory=dict)  # e.g. normalization fitted on train
    extra: dict[str, Any] = field(default_factory=dict)  # stored in the checkpoint for evaluation and the card


class Task(ABC):
    """A kind of model in the repository: pose, sequence_pose, forecast or frames."""

    card_task: str

    @abstractmethod
    def prepare(self, config: TrainConfig) -> TaskData:
        """Build or read the data, split it and fit statistics on the train part."""

    @abstractmethod
    def test_split(self, config: TrainConfig) -> Arrays:
        """Only the test part, as `prepare` would split it (generated data draws just those samples)."""

    @abstractmethod
    def loss(self, model: PosecastModel, batch: list[torch.Tensor]) -> torch.Tensor:
        """The training objective of one mini-batch: MSE on the task's targets, plus any terms its [loss] adds."""

    @abstractmethod
    def test_inputs(self, test: Arrays) -> list[npt.NDArray[np.float32]]:
        """The graph inputs for the whole test split."""

    @abstractmethod
    def evaluate(self, predict: Predictor, test: Arrays, extra: dict[str, Any]) -> dict[str, Any]:
        """Metrics of the model on the test split, with the task's baselines beside them."""

    @abstractmethod
    def card_fields(self, config: TrainConfig, model: PosecastModel, extra: dict[str, Any]) -> dict[str, Any]:
        """Task-specific ModelCard fields: preprocessing, sequence limits, keypoint names and skeleton."""

    def headline(self, metrics: dict[str, Any]) -> dict[str, float]:
        """The few numbers a table shows for this task (model and baselines), by column name."""
        return {}

    def calibrate(self, predict: Predictor, config: TrainConfig) -> ForecastIntervals | None:
        """Prediction intervals fitted on the validation split, for tasks that have them."""
        return None


def predict_in_batches(predict: Predictor, inputs: list[npt.NDArray[np.float32]], batch_size: int = 64) -> list[Any]:
    """Run a predictor over the test split in slices so memory stays bounded; concatenates the outputs."""
    outputs: list[list[npt.NDArray[np.float32]]] = []
    for start in range(0, len(inputs[0]), batch_size):
        outputs.append(predict([x[start : start + batch_size] for x in inputs]))
    return [np.concatenate(parts) for parts in zip(*outputs, strict=True)]


def torch_predictor(model: PosecastModel, device: torch.device | str = "cpu") -> Predictor:
    """Wrap a model in eval mode as a numpy predictor."""
    model = model.eval()

    @torch.no_grad()
    def predict(inputs: list[npt.NDArray[np.float32]]) -> list[npt.NDArray[np.float32]]:
        outputs = model(*(torch.from_numpy(np.ascontiguousarray(x)).to(device) for x in inputs))
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        return [output.cpu().numpy() for output in outputs]

    return predict
