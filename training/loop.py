"""The training loop: mini-batch Adam on MSE, early stopping on validation loss, best checkpoint kept.

Readable top to bottom (after nanoGPT's train.py). Under torchrun each process trains on its shard through
DistributedDataParallel; only rank 0 writes files.
"""

from __future__ import annotations

import logging
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from models import PosecastModel, create_model
from training import distributed
from training.checkpoint import CHECKPOINT_NAME, LAST_CHECKPOINT_NAME, Checkpoint
from training.config import TrainConfig
from training.plot import plot_losses
from training.tasks.base import Task

logger = logging.getLogger(__name__)


@dataclass
class FitResult:
    model: PosecastModel  # weights after the last epoch run (the best ones are in the checkpoint)
    checkpoint_path: Path
    best_val_loss: float
    best_epoch: int
    epochs_run: int
    stopped_early: bool


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def fit(config: TrainConfig, task: Task, resume: Path | None = None) -> FitResult:
    """Train `config.model` on the task's data; returns where the best checkpoint is."""
    context = distributed.setup(config.device)
    try:
        return _fit(config, task, context, resume)
    finally:
        distributed.teardown(context)


def _fit(config: TrainConfig, task: Task, context: distributed.Distributed, resume: Path | None) -> FitResult:
    seed_everything(config.seed)
    data = task.prepare(config)
    model_args = {**config.model_args, **data.model_overrides}
    model = create_model(config.model, **model_args)
    if config.init_from and resume is None:
        _initialize_from(model, Path(config.init_from))
    model = model.to(context.device)
    optim = config.optim
    optimizer = torch.optim.Adam(
        model.parameters(),
        lr=optim.learning_rate,
        betas=(optim.betas[0], optim.betas[1]),
        weight_decay=optim.weight_decay,
    )
    start_epoch, best_val_loss, best_epoch, history = 0, math.inf, -1, []
    if resume is not None:
        state = Checkpoint.load(resume)
        model.load_state_dict(state.model_state)
        optimizer.load_state_dict(state.optimizer_state)
        if state.rng_state is not None:  # dropout continues with the random stream it would have had
            torch.set_rng_state(state.rng_state)
        start_epoch, history = state.epoch + 1, state.history
        best_val_loss = min((entry["val_loss"] for entry in history), default=math.inf)
        best_epoch = min(range(len(history)), key=lambda i: history[i]["val_loss"]) if history else -1
        logger.info("resuming from %s at epoch %d", resume, start_epoch)
    # Created after a resume: the restored optimizer already holds the decayed learning rate.
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=optim.lr_decay)

    trained: torch.nn.Module = DistributedDataParallel(model) if context.enabled else model
    train_loader = _loader(data.train, optim.batch_size, config.seed, context, shuffle=True)
    val_loader = _loader(data.val, optim.batch_size, config.seed, context, shuffle=False)
    run_dir = config.run_dir
    epochs_without_improvement = len(history) - 1 - best_epoch if history else 0
    stopped_early = False

    def checkpoint(epoch: int) -> Checkpoint:
        return Checkpoint(
            model_name=config.model,
            model_args=model_args,
            config=config.to_dict(),
            epoch=epoch,
            best_val_loss=best_val_loss,
            model_state={k: v.detach().cpu() for k, v in model.state_dict().items()},
            optimizer_state=optimizer.state_dict(),
            history=history,
            extra=data.extra,
            rng_state=torch.get_rng_state(),
        )

    for epoch in range(start_epoch, optim.epochs):
        train_loader.sampler.set_epoch(epoch)  # type: ignore[attr-defined]  # the order depends on (seed, epoch) only
        started = time.perf_counter()
        train_loss = context.mean(_train_epoch(trained, model, task, train_loader, optimizer, optim.grad_clip, context))
        val_loss = context.mean(evaluate_loss(model, task, val_loader, context.device))
        scheduler.step()
        history.append({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss})
        improved = val_loss < best_val_loss - optim.min_delta
        if improved:
            best_val_loss, best_epoch, epochs_without_improvement = val_loss, epoch, 0
        else:
            epochs_without_improvement += 1
        logger.info(
            "epoch %d/%d train_loss %.6f val_loss %.6f%s (%.1fs)",
            epoch + 1,
            optim.epochs,
            train_loss,
            val_loss,
            " best" if improved else "",
            time.perf_counter() - started,
        )
        if context.is_main:
            state = checkpoint(epoch)
            if improved:
                state.save(run_dir / CHECKPOINT_NAME)
            state.save(run_dir / LAST_CHECKPOINT_NAME)
        if epochs_without_improvement >= optim.patience:
            stopped_early = True
            logger.info("early stopping: no validation improvement for %d epochs", optim.patience)
            break
    if context.is_main:
        plot_losses(history, run_dir / "loss_curve.png")
    return FitResult(
        model=model,
        checkpoint_path=run_dir / CHECKPOINT_NAME,
        best_val_loss=best_val_loss,
        best_epoch=best_epoch,
        epochs_run=len(history),
        stopped_early=stopped_early,
    )


def _initialize_from(model: PosecastModel, path: Path) -> None:
    """Copy every parameter and buffer whose name and shape match, e.g. a pose CNN's backbone into a sequence model."""
    source = Checkpoint.load(path).model_state
    target = model.state_dict()
    matching = {k: v for k, v in source.items() if k in target and target[k].shape == v.shape}
    if not matching:
        raise ValueError(f"{path} shares no parameter of the same name and shape with {type(model).__name__}")
    model.load_state_dict(matching, strict=False)
    logger.info("initialized %d of %d tensors from %s", len(matching), len(target), path)


def _loader(
    dataset: Dataset[Any], batch_size: int, seed: int, context: distributed.Distributed, shuffle: bool
) -> DataLoader[Any]:
    # A DistributedSampler even for one process: its order is a function of (seed, epoch), so a resumed run
    # sees the same batches as an uninterrupted one. Without drop_last it pads a rank's shard by repeating samples.
    sampler: DistributedSampler[Any] = DistributedSampler(
        dataset, context.world_size, context.rank, shuffle=shuffle, seed=seed
    )
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler)


def _train_epoch(
    trained: torch.nn.Module,
    model: PosecastModel,
    task: Task,
    loader: DataLoader[Any],
    optimizer: torch.optim.Optimizer,
    grad_clip: float | None,
    context: distributed.Distributed,
) -> float:
    trained.train()
    total, count = 0.0, 0
    show_progress = context.is_main and sys.stderr.isatty()
    for step, batch in enumerate(loader, start=1):
        batch = [tensor.to(context.device) for tensor in batch]
        # DDP syncs gradients through its own forward, so the task runs the wrapper while typed as the model.
        loss = task.loss(trained, batch)  # type: ignore[arg-type]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        total += loss.item() * len(batch[0])
        count += len(batch[0])
        if show_progress:
            print(f"\r  step {step}/{len(loader)} loss {total / count:.5f}", end="", file=sys.stderr, flush=True)
    if show_progress:
        print("\r", end="", file=sys.stderr)
    return total / max(count, 1)


@torch.no_grad()
def evaluate_loss(model: PosecastModel, task: Task, loader: DataLoader[Any], device: torch.device) -> float:
    """Mean task loss over a split, in eval mode (no dropout)."""
    model.eval()
    total, count = 0.0, 0
    for batch in loader:
        batch = [tensor.to(device) for tensor in batch]
        total += task.loss(model, batch).item() * len(batch[0])
        count += len(batch[0])
    return total / max(count, 1)
