"""One loop for all three families: train_one_epoch and evaluate as plain functions."""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.nn import functional as F

from lrcn.models.ensemble import mean_probability_logits


def _forward(model: nn.Module, x: torch.Tensor, frozen_inputs: bool) -> torch.Tensor:
    return model.forward_frozen(x) if frozen_inputs else model(x)


def _member_logits(model: nn.Module, x: torch.Tensor, frozen_inputs: bool, steps: bool = False) -> torch.Tensor:
    """(M, B, K): an ensemble's members' own logits, (1, B, K) for one model; with `steps`, the same at
    every step, (M, B, T, K). A wrapper without these methods (DDP's) runs forward(), which
    distributed.wrap makes return them."""
    if steps:
        fn = getattr(model, "frozen_step_logits" if frozen_inputs else "member_step_logits", None)
        return fn(x) if fn is not None else model(x)
    if frozen_inputs:
        return model.forward_frozen(x)[None]
    fn = getattr(model, "member_logits", None)
    out = fn(x) if fn is not None else model(x)
    return out if out.dim() == 3 else out[None]


def _mixed_ce(logits: torch.Tensor, y: torch.Tensor, y2: torch.Tensor, lam: float, smoothing: float) -> torch.Tensor:
    """Cross-entropy against y, or (mixup) lam of it against y and 1 - lam against y2."""
    ce = F.cross_entropy(logits, y, label_smoothing=smoothing)
    return ce if y2 is y else lam * ce + (1 - lam) * F.cross_entropy(logits, y2, label_smoothing=smoothing)


def _stepped_ce(
    logits: torch.Tensor, y: torch.Tensor, y2: torch.Tensor, lam: float, smoothing: float, step_loss: float
) -> torch.Tensor:
    """logits (B, T, K) at every step: (1 - step_loss) of the loss at the last step, which is what the
    model predicts, and step_loss of the mean loss over every step, each step labelled with the clip's class."""
    t = logits.shape[1]
    every_y = y.repeat_interleave(t)
    every_y2 = every_y if y2 is y else y2.repeat_interleave(t)
    every = _mixed_ce(logits.flatten(0, 1), every_y, every_y2, lam, smoothing)
    return (1 - step_loss) * _mixed_ce(logits[:, -1], y, y2, lam, smoothing) + step_loss * every


def train_one_epoch(
    model,
    loader,
    optimizer,
    device,
    *,
    frozen_inputs=False,
    max_steps=None,
    on_step=None,
    label_smoothing: float = 0.0,
    after_step=None,
    mixup: float = 0.0,
    step_loss: float = 0.0,
) -> dict:
    """Returns {"loss", "accuracy", "clips_per_s", "clips"} over the clips seen this epoch.

    `mixup` > 0 trains on lam * x + (1 - lam) * x[perm] with the loss mixed by the same lam
    (lam ~ Beta(mixup, mixup) per batch, from torch's generator, which each epoch seeds for --resume);
    accuracy is then against each mixed clip's larger part. `step_loss` > 0 also scores the classifier
    at every step of the LSTM (`_stepped_ce`); the prediction is still the last step's."""
    model.train()
    total_loss, correct, seen, t0 = 0.0, 0, 0, time.perf_counter()
    for step, (x, y) in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        lam, y2 = 1.0, y
        if mixup > 0 and len(y) > 1:
            lam = float(torch.distributions.Beta(mixup, mixup).sample())
            perm = torch.randperm(len(y)).to(device)
            x, y2 = lam * x + (1 - lam) * x[perm], y[perm]
        # each member of an ensemble has its own loss, summed, so it learns as if trained alone;
        # the accuracy shown is the ensemble's
        if step_loss > 0:
            stepped = _member_logits(model, x, frozen_inputs, steps=True)
            loss = sum(_stepped_ce(m, y, y2, lam, label_smoothing, step_loss) for m in stepped)
            members = stepped[:, :, -1]
        else:
            members = _member_logits(model, x, frozen_inputs)
            loss = sum(_mixed_ce(m, y, y2, lam, label_smoothing) for m in members)
        logits = members[0] if len(members) == 1 else mean_probability_logits(members.detach())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if after_step:
            after_step()
        n = y.shape[0]
        # an ensemble reports its own loss (of the mean probability), as evaluate() does for val and test
        shown = loss if len(members) == 1 else _mixed_ce(logits, y, y2, lam, label_smoothing)
        total_loss += shown.item() * n
        correct += int((logits.argmax(1) == (y if lam >= 0.5 else y2)).sum())
        seen += n
        if on_step:
            on_step(loss=total_loss / seen, acc=correct / seen, clips_per_s=seen / (time.perf_counter() - t0), n=n)
    elapsed = time.perf_counter() - t0
    return {
        "loss": total_loss / max(seen, 1),
        "accuracy": correct / max(seen, 1),
        "clips_per_s": seen / max(elapsed, 1e-9),
        "clips": seen,
    }


@torch.inference_mode()
def evaluate(model, loader, device, *, frozen_inputs=False) -> dict:
    """Returns {"loss", "accuracy", "preds", "labels", "probs"} over the whole loader."""
    model.eval()
    total_loss, preds, labels, probs = 0.0, [], [], []
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits = _forward(model, x, frozen_inputs)
        total_loss += F.cross_entropy(logits, y, reduction="sum").item()
        probs.append(torch.softmax(logits, 1).cpu())
        preds.append(logits.argmax(1).cpu())
        labels.append(y.cpu())
    if not labels:
        return {"loss": float("nan"), "accuracy": float("nan"), "preds": [], "labels": [], "probs": []}
    p, truth = torch.cat(preds), torch.cat(labels)
    return {
        "loss": total_loss / len(truth),
        "accuracy": float((p == truth).float().mean()),
        "preds": p.tolist(),
        "labels": truth.tolist(),
        "probs": torch.cat(probs).tolist(),
    }
