"""The fold summary of a k-fold parent folder: folds.json, folds.md and the pooled confusion.png.

Reads only the fold runs' JSON files (never torch), so vc-report can show it anywhere.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import numpy as np

from lrcn.core.atomic import write_json, write_text
from lrcn.core.errors import LrcnError

_FOLD = re.compile(r"^fold-(\d+)$")
SUMMARY = "folds.json"


def summary_line(summary: dict) -> str:
    sd = summary["test_accuracy_sd"]
    return (
        f"{summary['folds']}-fold test accuracy {summary['test_accuracy_mean']:.3f} "
        f"(sd {'n/a' if sd is None else f'{sd:.3f}'}; pooled {summary['pooled_accuracy']:.3f} over "
        f"{summary['num_test']} clips)  -> {summary['parent']}"
    )


def mean_sd(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def fold_dirs(parent: Path) -> list[Path]:
    found = [(int(m[1]), p) for p in parent.iterdir() if p.is_dir() and (m := _FOLD.match(p.name))]
    return [p for _, p in sorted(found)]


def _read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise LrcnError(f"{path}: cannot read ({e})") from None


def summarize(parent: str | Path) -> dict:
    """Pool the finished folds of `parent` and write folds.json, folds.md and confusion.png."""
    parent = Path(parent)
    runs = [d for d in fold_dirs(parent) if (d / "metrics.json").is_file() and (d / "per_class.json").is_file()]
    if not runs:
        raise LrcnError(f"{parent}: no finished fold run (fold-N/metrics.json)")
    names = _read(runs[0] / "per_class.json")["class_names"]
    pooled = np.zeros((len(names), len(names)), dtype=np.int64)
    rows, accs = [], []
    for d in runs:
        m, pc = _read(d / "metrics.json"), _read(d / "per_class.json")
        if pc["class_names"] != names:
            raise LrcnError(f"{d}: its classes differ from {runs[0].name}'s; not folds of one run")
        pooled += np.asarray(pc["confusion"], dtype=np.int64)
        acc = m.get("test_accuracy")
        if acc is not None:
            accs.append(acc)
        rows.append(
            {
                "fold": d.name,
                "test_accuracy": acc,
                "num_train": m.get("num_train"),
                "num_val": m.get("num_val"),
                "num_test": m.get("num_test"),
                "best_epoch": m.get("best_epoch"),
                "train_seconds": m.get("train_seconds"),
            }
        )
    mean, sd = mean_sd(accs)
    total = int(pooled.sum())
    per_class = {n: (float(pooled[i, i] / pooled[i].sum()) if pooled[i].sum() else None) for i, n in enumerate(names)}
    config = _read(runs[0] / "config.json") if (runs[0] / "config.json").is_file() else {}
    final = parent / "final"
    summary = {
        "parent": str(parent),
        "folds": config.get("data", {}).get("folds") or len(runs),
        "finished": len(runs),
        "test_accuracy_mean": mean,
        "test_accuracy_sd": sd,
        "pooled_accuracy": float(np.trace(pooled) / total) if total else None,
        "num_test": total,
        "per_class_accuracy": per_class,
        "confusion": pooled.tolist(),
        "class_names": names,
        "runs": rows,
        "recipe": config.get("train", {}).get("recipe"),
        "final": str(final) if (final / "best.pt").is_file() or (final / "last.pt").is_file() else None,
    }
    write_json(parent / SUMMARY, summary)
    write_text(parent / "folds.md", markdown(summary))
    try:
        from lrcn.train.plots import plot_confusion

        plot_confusion(pooled, names, parent / "confusion.png")
    except ImportError:  # plotting is optional for the summary
        pass
    return summary


def markdown(s: dict) -> str:
    def f(v):
        return "n/a" if v is None else f"{v:.3f}"

    title = f"# {s['finished']} of {s['folds']} folds: test accuracy {f(s['test_accuracy_mean'])} (sd {f(s['test_accuracy_sd'])})"
    lines = [
        title,
        "",
        f"Pooled over {s['num_test']} test clips: {f(s['pooled_accuracy'])}. Recipe: {s.get('recipe')}.",
        "",
        "| fold | test acc | train | val | test | best epoch | time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in s["runs"]:
        lines.append(
            f"| {r['fold']} | {f(r['test_accuracy'])} | {r['num_train']} | {r['num_val']} | {r['num_test']} "
            f"| {r['best_epoch']} | {r['train_seconds']} |"
        )
    lines += ["", "| class | pooled accuracy |", "|---|---|"]
    lines += [f"| {n} | {f(a)} |" for n, a in s["per_class_accuracy"].items()]
    names = s["class_names"]
    lines += [
        "",
        "Confusion (rows: true, columns: predicted), pooled over folds:",
        "",
        "| | " + " | ".join(names) + " |",
        "|---" * (len(names) + 1) + "|",
    ]
    lines += [f"| {n} | " + " | ".join(str(v) for v in row) + " |" for n, row in zip(names, s["confusion"])]
    lines += [
        "",
        f"Model to export: {s['final']} (trained on every clip; the folds measure its recipe)."
        if s.get("final")
        else "No final model (--no-final): export a fold's run, which saw fewer clips.",
    ]
    return "\n".join(lines) + "\n"


def show(parent: str | Path) -> list[str]:
    """vc-report's lines for a k-fold parent folder (re-summarised from its fold runs)."""
    s = summarize(parent)
    out = [summary_line(s)]
    out += [f"  {r['fold']}: test {_f3(r['test_accuracy'])}  ({r['num_test']} clips)" for r in s["runs"]]
    out.append("  per class: " + ", ".join(f"{n} {_f3(a)}" for n, a in s["per_class_accuracy"].items()))
    out.append(f"  {Path(parent) / 'folds.md'}")
    return out


def _f3(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"
