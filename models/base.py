"""What every registered network tells training, export and tests about its inputs and outputs."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass(frozen=True)
class TensorAxes:
    """A graph input or output: its name and which axes are dynamic (axis -> symbolic name)."""

    name: str
    dynamic: dict[int, str] = field(default_factory=lambda: {0: "batch"})


@dataclass(frozen=True)
class IOSpec:
    """The graph signature export uses: names in order, dynamic axes, and the task the service maps it to."""

    inputs: tuple[TensorAxes, ...]
    outputs: tuple[TensorAxes, ...]
    task: str  # "pose", "forecast", "frames", "sequence_pose" or "regression"
    max_sizes: dict[str, int] = field(default_factory=dict)  # upper bound of a dynamic axis, by symbolic name


class PosecastModel(nn.Module, ABC):
    """A network the registry builds: it can describe its graph and make example inputs for it."""

    @abstractmethod
    def io_spec(self) -> IOSpec:
        """Names and dynamic axes of the exported graph."""

    @abstractmethod
    def example_inputs(self, batch_size: int = 2, length: int | None = None) -> tuple[torch.Tensor, ...]:
        """Random inputs of a valid shape; `length` sets the time axis of sequence models."""
