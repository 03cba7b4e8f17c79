"""Training levers that the recipes set: the lr schedule and which epoch best.pt keeps."""

from __future__ import annotations

import copy
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


class WeightAverage:
    """An exponential moving average of a model's weights, updated after every optimizer step.

    Buffers (BatchNorm statistics) are averaged too, so the averaged copy is a model that runs
    on its own. `decay` near 1 averages over about 1 / (1 - decay) steps. Measured on
    UT-Interaction it did not beat the plain weights (README), so no recipe turns it on.
    """

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        frozen = {n for n, p in model.named_parameters() if not p.requires_grad}  # a frozen backbone never moves
        # (average, source) tensor pairs, found once: every step then touches only what trains
        mine, theirs = self.model.state_dict(), model.state_dict(keep_vars=True)
        pairs = [(mine[k], theirs[k].detach()) for k in mine if k not in frozen]
        self._blend = [(a, b) for a, b in pairs if a.dtype.is_floating_point]
        self._copy = [(a, b) for a, b in pairs if not a.dtype.is_floating_point]  # counters: num_batches_tracked

    @torch.no_grad()
    def update(self) -> None:
        """One step of the average toward the model given at construction (its tensors are
        updated in place by the optimizer, so they are the current weights)."""
        for a, b in self._blend:
            a.lerp_(b, 1.0 - self.decay)
        for a, b in self._copy:
            a.copy_(b)
