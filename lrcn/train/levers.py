"""Training levers that the recipes set: the lr schedule and which epoch best.pt keeps."""

from __future__ import annotations

import math

import torch


def make_scheduler(optimizer, cfg):
    """plateau: halve the lr after 2 epochs without a better val loss; cosine: linear warm-up over
    warmup_epochs, then a cosine decay to 0 at the last epoch (stepped once per epoch)."""
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
    warm, total = cfg.warmup_epochs, cfg.epochs

    def factor(done: int) -> float:  # `done` epochs finished; the factor for the next one
        if done < warm:
            return (done + 1) / (warm + 1)
        span = max(1, total - warm)
        return 0.5 * (1 + math.cos(math.pi * min(done - warm, span) / span))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def step_scheduler(scheduler, ev: dict) -> None:
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(ev["loss"])
    else:
        scheduler.step()


def score(ev: dict, select: str, epoch: int) -> tuple:
    """Higher is better. accuracy breaks ties by loss; last always prefers the newer epoch."""
    loss = ev["loss"] if ev["loss"] == ev["loss"] else math.inf  # NaN (empty split) never wins
    if select == "accuracy":
        acc = ev["accuracy"] if ev["accuracy"] == ev["accuracy"] else -1.0
        return (acc, -loss)
    if select == "last":
        return (epoch,)
    return (-loss,)
