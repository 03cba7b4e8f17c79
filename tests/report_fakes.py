"""Fake finished run folders for the report tests: the run-folder contract's JSON, no torch, no training."""

from __future__ import annotations

import json
from pathlib import Path

NAMES = ["grow", "move_down", "move_down_right"]


def fake_run(
    path: Path,
    *,
    lr: float = 1e-3,
    frames: int = 15,
    test_accuracy: float = 0.5,
    test_loss: float = 1.0,
    pngs: bool = False,
    skipped: list[dict] | None = None,
) -> Path:
    path.mkdir(parents=True)
    config = {
        "config_version": 1,
        "lrcn_version": "0.1.0",
        "class_names": NAMES,
        "created": "2026-01-01T00:00:00",
        "model": {
            "name": "convlstm",
            "num_classes": 3,
            "img_size": 32,
            "latent_dim": 16,
            "hidden_size": 12,
            "lstm_layers": 1,
            "bidirectional": False,
            "dropout": 0.3,
            "norm": "batch",
            "backbone": "resnet152",
        },
        "data": {"root": "data/synth", "num_frames": frames, "img_size": 32, "modality": "rgb", "augment": []},
        "train": {"epochs": 2, "batch_size": 4, "lr": lr, "seed": 0, "device": "cpu", "out": str(path)},
        "preprocess": {"img_size": 32, "num_frames": frames},
    }
    history = [
        {
            "epoch": e,
            "train_loss": 1.2 / e,
            "train_accuracy": 0.3 * e,
            "val_loss": 1.1 / e,
            "val_accuracy": 0.25 * e,
            "lr": lr,
            "seconds": 1.5,
            "clips_per_s": 20.0,
        }
        for e in (1, 2)
    ]
    metrics = {
        "test_accuracy": test_accuracy,
        "test_loss": test_loss,
        "val_accuracy": 0.5,
        "val_loss": 0.55,
        "train_accuracy": 0.6123456,
        "train_loss": 0.6,
        "best_epoch": 2,
        "epochs": 2,
        "train_seconds": 3.04,
        "num_train": 24,
        "num_val": 6,
        "num_test": 6,
        "skipped_files": len(skipped or []),
        "sample_fps": 7.5,
    }
    confusion = [[2, 0, 0], [1, 1, 0], [0, 1, 1]]
    per_class = {
        "accuracy": {"grow": 1.0, "move_down": 0.5, "move_down_right": 0.5},
        "confusion": confusion,
        "class_names": NAMES,
    }
    for name, doc in [
        ("config.json", config),
        ("history.json", history),
        ("metrics.json", metrics),
        ("per_class.json", per_class),
        ("skipped.json", skipped or []),
    ]:
        (path / name).write_text(json.dumps(doc))
    if pngs:
        import numpy as np

        from lrcn.train.plots import plot_confusion, plot_curves

        plot_curves(history, path / "curves.png")
        plot_confusion(np.array(confusion), NAMES, path / "confusion.png")
    return path


def fake_sweep(base: Path, pngs: bool = False) -> list[Path]:
    """A 2x2 grid (lr x frames) with distinct test accuracies; lr1e-3/frames20 is the best."""
    runs = []
    base.mkdir(parents=True, exist_ok=True)
    (base / ".lrcn-sweep").write_text("made by vc-train\n")  # as run_sweep does: vc-report may write here
    for i, (lr, frames) in enumerate([(1e-4, 15), (1e-4, 20), (1e-3, 15), (1e-3, 20)]):
        runs.append(
            fake_run(
                base / f"convlstm-lr{lr:g}-frames{frames}",
                lr=lr,
                frames=frames,
                test_accuracy=0.4 + 0.1 * i,
                test_loss=1.0 - 0.1 * i,
                pngs=pngs,
            )
        )
    return runs
