"""Feedforward network: a chain of fully-connected layers h(i) = g(W(i)^T h(i-1) + b(i)) (eqs. 1-5)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from models.base import IOSpec, PosecastModel, TensorAxes
from models.registry import register_model

Activation = Literal["relu", "sigmoid", "tanh"]

# eq. 1 ReLU, eq. 2 sigmoid (the standard 1 / (1 + exp(-x))), eq. 3 tanh.
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


@dataclass
class FeedForwardConfig:
    in_features: int = 34  # size of x, e.g. 17 keypoints x 2 coordinates
    hidden_features: list[int] = field(default_factory=lambda: [128, 128])  # width of each hidden layer
    out_features: int = 34  # size of y = h(n)
    activation: Activation = "relu"  # g for the hidden layers; the output layer is linear (regression)
    dropout: float = 0.1  # dropout probability after each hidden activation


class FeedForwardNet(PosecastModel):
    """y = f(x; θ) = h(n): hidden layers with activation g and dropout, a linear output layer."""

    def __init__(self, config: FeedForwardConfig) -> None:
        super().__init__()
        if config.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {config.activation!r}")
        self.config = config
        layers: list[nn.Module] = []
        width = config.in_features
        for hidden in config.hidden_features:
            # nn.Linear computes x W^T + b, i.e. eq. 4's W^T h + b with W stored transposed.
            layers += [nn.Linear(width, hidden), ACTIVATIONS[config.activation](), nn.Dropout(config.dropout)]
            width = hidden
        layers.append(nn.Linear(width, config.out_features))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # (B, in_features) -> (B, out_features)

    def io_spec(self) -> IOSpec:
        return IOSpec(inputs=(TensorAxes("features"),), outputs=(TensorAxes("prediction"),), task="regression")

    def example_inputs(self, batch_size: int = 2, length: int | None = None) -> tuple[torch.Tensor, ...]:
        return (torch.randn(batch_size, self.config.in_features),)


@register_model("feedforward")
def feedforward(**kwargs: object) -> FeedForwardNet:
    return FeedForwardNet(FeedForwardConfig(**kwargs))  # type: ignore[arg-type]
