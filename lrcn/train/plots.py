"""Training curves and the confusion matrix as PNG files (matplotlib, Agg backend)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lrcn.core.atomic import atomic_path
from lrcn.core.text import printable


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plain_label(text: object) -> str:
    """Text for a matplotlib label: printable, with `$` escaped so that mathtext never parses it
    (a class name such as `$\\notacommand$` would otherwise raise after training finished)."""
    return printable(text).replace("$", r"\$")


def _save(fig, path: str | Path) -> None:
    """Atomically, as PNG: a planted symlink at `path` is replaced, never followed."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")


def confusion_matrix(labels: list[int], preds: list[int], k: int) -> np.ndarray:
    m = np.zeros((k, k), dtype=np.int64)
    for t, p in zip(labels, preds):
        m[t, p] += 1
    return m


def plot_curves(history: list[dict], path: str | Path) -> None:
    plt = _plt()
    ep = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(ep, [h["train_loss"] for h in history], "o-", label="train")
    a.plot(ep, [h["val_loss"] for h in history], "o-", label="val")
    a.set(xlabel="epoch", ylabel="loss", title="loss")
    b.plot(ep, [h["train_accuracy"] for h in history], "o-", label="train")
    b.plot(ep, [h["val_accuracy"] for h in history], "o-", label="val")
    b.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_confusion(matrix: np.ndarray, names: list[str], path: str | Path, title: str = "test confusion") -> None:
    plt = _plt()
    k = len(names)
    size = max(4.0, 0.55 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    labels = [plain_label(n) for n in names]
    ax.set_xticks(range(k), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels, fontsize=8)
    ax.set(xlabel="predicted", ylabel="true", title=title)
    top = matrix.max() if matrix.size else 0
    for i in range(k):
        for j in range(k):
            if matrix[i, j]:
                ax.text(
                    j,
                    i,
                    str(matrix[i, j]),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if matrix[i, j] > top / 2 else "black",
                )
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def plot_overlay(runs: list, path: Path) -> bool:
    """Validation loss and accuracy of every run on one pair of axes; False when no run has history."""
    runs = [r for r in runs if r.history]
    if not runs:
        return False
    plt = _plt()

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for r in runs:
        ep = [h["epoch"] for h in r.history]
        a.plot(ep, [h["val_loss"] for h in r.history], "o-", ms=3)
        b.plot(ep, [h["val_accuracy"] for h in r.history], "o-", ms=3, label=plain_label(r.name))
    a.set(xlabel="epoch", ylabel="val loss", title="validation loss")
    b.set(xlabel="epoch", ylabel="val accuracy", title="validation accuracy", ylim=(0, 1.02))
    from matplotlib.ticker import MaxNLocator

    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    b.legend(fontsize=7, loc="best")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return True
