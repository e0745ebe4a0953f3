"""Self-describing checkpoints: enough to rebuild, resume and export a model without guessing (after nanoGPT)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models import PosecastModel, create_model
from training.config import TrainConfig

CHECKPOINT_NAME = "best.pt"
LAST_CHECKPOINT_NAME = "last.pt"


@dataclass
class Checkpoint:
    model_name: str  # registry name
    model_args: dict[str, Any]  # config fields, including statistics fitted on the train split
    config: dict[str, Any]  # the whole TrainConfig
    epoch: int
    best_val_loss: float
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)  # one entry per epoch: train and val loss
    extra: dict[str, Any] = field(default_factory=dict)  # task data the card needs, e.g. normalization
    rng_state: torch.Tensor | None = None  # torch's CPU generator, so a resumed run draws the same dropout masks

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(".tmp")
        torch.save(self.__dict__, temporary)
        temporary.replace(path)  # never leave a half-written checkpoint behind

    @classmethod
    def load(cls, path: Path) -> Checkpoint:
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint at {path}; train first with `python -m training fit`")
        return cls(**torch.load(path, map_location="cpu", weights_only=False))

    def build_model(self) -> PosecastModel:
        model = create_model(self.model_name, **self.model_args)
        model.load_state_dict(self.model_state)
        return model.eval()

    @property
    def train_config(self) -> TrainConfig:
        return TrainConfig.from_dict(self.config)
