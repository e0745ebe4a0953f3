"""Run under torchrun by test_distributed: trains the tiny pose model and saves this rank's final weights."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

from tests.training.conftest import TINY_POSE
from training.config import load_config
from training.loop import fit
from training.tasks import PoseTask

if __name__ == "__main__":
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    config = load_config(None, [*TINY_POSE, f'output_dir="{out / "runs"}"', "device=cpu"])
    result = fit(config, PoseTask())
    torch.save(result.model.state_dict(), out / f"rank{os.environ['RANK']}.pt")
