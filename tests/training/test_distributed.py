"""DDP through torchrun: two CPU processes on gloo end with identical weights that differ from the start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from benchmarks.server import free_port
from models import create_model
from training.checkpoint import Checkpoint

REPO = Path(__file__).parents[2]


def test_two_gloo_ranks_train_to_identical_weights(tmp_path: Path) -> None:
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        str(REPO / "tests" / "training" / "ddp_worker.py"),
        str(tmp_path),
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert completed.returncode == 0, completed.stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys()
    torch.manual_seed(0)
    model = create_model("pose_cnn", input_size=(32, 32), widths=[4, 8, 8, 8])
    # Parameters are the weights DDP keeps in sync; BatchNorm's running statistics are buffers that each rank
    # updates from its own last batch (rank 0's are the ones checkpointed).
    parameter_names = [name for name, _ in model.named_parameters()]
    for name in parameter_names:
        assert torch.equal(rank0[name], rank1[name]), name
    initial = model.state_dict()
    assert not torch.equal(initial["head.heatmaps.weight"], rank0["head.heatmaps.weight"]), "training happened"
    assert (tmp_path / "runs" / "tiny_pose" / "best.pt").is_file(), "rank 0 wrote the checkpoint"
    history = Checkpoint.load(tmp_path / "runs" / "tiny_pose" / "last.pt").history
    assert [entry["epoch"] for entry in history] == [0, 1]
