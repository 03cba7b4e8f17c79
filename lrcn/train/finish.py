"""The last step of a run: test the best checkpoint and write metrics, per-class accuracy, plots, report."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from lrcn.models.checkpoint import load_checkpoint
from lrcn.train import distributed
from lrcn.train.checkpoint import write_json
from lrcn.train.distributed import Ranks
from lrcn.train.plots import confusion_matrix, plot_confusion, plot_curves
from lrcn.train.report_write import write_run_report
from lrcn.train.state import SPLITS, Session, TrainState


def loader(ds, batch_size: int, shuffle: bool, workers: int, seed: int, ranks: Ranks | None = None):
    """A DataLoader with its own seeded generator; shuffling under torchrun takes this rank's share
    of the order one process would visit (distributed.ShardSampler)."""
    g = torch.Generator()
    g.manual_seed(seed)
    sampler = None
    if shuffle and ranks is not None and ranks.enabled:
        sampler = distributed.ShardSampler(distributed.one_process_order(len(ds), seed), ranks)
    return torch.utils.data.DataLoader(
        ds,
        batch_size=batch_size,
        shuffle=shuffle and sampler is None,
        sampler=sampler,
        num_workers=workers,
        generator=g,
        persistent_workers=False,
    )


def evaluate(s: Session, split: str, workers: int) -> dict:
    """loop.evaluate over one whole split, each clip once over all ranks, with the unwrapped model."""
    bs = s.cfg.train.batch_size
    return distributed.evaluate_split(
        s.judged,
        s.datasets[split],
        lambda ds: loader(ds, bs, False, workers, 0),
        s.ranks,
        s.device,
        frozen_inputs=s.frozen_inputs,
    )


def _num(v):
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


def finish(s: Session, state: TrainState) -> Path:
    """Test the best checkpoint (last.pt when no epoch improved) on every split; rank 0 writes the results."""
    out = s.out
    best = distributed.on_main(
        s.ranks,
        lambda: load_checkpoint(out / "best.pt") if (out / "best.pt").is_file() else load_checkpoint(out / "last.pt"),
    )
    s.judged.load_state_dict(best["model"])
    results = {k: evaluate(s, k, 0) for k in SPLITS}
    if not s.ranks.is_main:
        return out
    names, test = s.prepared.names, results["test"]
    matrix = confusion_matrix(test["labels"], test["preds"], len(names))
    per_class = {n: (float(matrix[i, i] / matrix[i].sum()) if matrix[i].sum() else None) for i, n in enumerate(names)}
    metrics = {
        "test_accuracy": _num(test["accuracy"]),
        "test_loss": _num(test["loss"]),
        "val_accuracy": _num(results["val"]["accuracy"]),
        "val_loss": _num(results["val"]["loss"]),
        "train_accuracy": _num(results["train"]["accuracy"]),
        "train_loss": _num(results["train"]["loss"]),
        "best_epoch": best["epoch"],
        "epochs": len(state.history),
        "train_seconds": round(state.train_seconds, 2),
        "num_train": len(s.datasets["train"]),
        "num_val": len(s.datasets["val"]),
        "num_test": len(s.datasets["test"]),
        "skipped_files": len(s.prepared.skipped),
        "sample_fps": s.prepared.sample_fps,
    }
    write_json(out / "metrics.json", metrics)
    write_json(out / "per_class.json", {"accuracy": per_class, "confusion": matrix.tolist(), "class_names": names})
    write_json(out / "history.json", state.history)
    if state.history:
        plot_curves(state.history, out / "curves.png")
    plot_confusion(matrix, names, out / "confusion.png")
    write_run_report(out)
    acc = metrics["test_accuracy"]
    s.console.print(
        f"test accuracy {'none' if acc is None else format(acc, '.3f')}  (best epoch {best['epoch']}, "
        f"{metrics['num_test']} test clips, {state.train_seconds:.0f}s training)  -> {out}"
    )
    return out
