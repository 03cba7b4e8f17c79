"""Experiment reports from run folders: load runs, compare them, write report.md / report.html.

Reads only the run-folder contract (JSON and PNG files), never torch, so vc-report starts fast
and works on runs copied off a training machine.
"""

from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from lrcn.core.errors import LrcnError
from lrcn.models.specs import family_spec


class ReportError(LrcnError):
    """A path that is not a finished run folder, or a report that cannot be made."""


# (column key, header, config section, field). The lab's parameters first, in its order.
PARAMS = [
    ("model", "model", "model", "name"),
    ("frames", "frames", "data", "num_frames"),
    ("img_size", "img size", "data", "img_size"),
    ("input", "input", "data", "modality"),
    ("latent_dim", "latent dim", "model", "latent_dim"),
    ("hidden_size", "hidden size", "model", "hidden_size"),
    ("lstm_layers", "LSTM layers", "model", "lstm_layers"),
    ("bidirectional", "bidirectional", "model", "bidirectional"),
    ("dropout", "dropout", "model", "dropout"),
    ("norm", "norm", "model", "norm"),
    ("backbone", "backbone", "model", "backbone"),
    ("lr", "lr", "train", "lr"),
    ("batch_size", "batch size", "train", "batch_size"),
    ("max_epochs", "max epochs", "train", "epochs"),
    ("optimizer", "optimizer", "train", "optimizer"),
    ("weight_decay", "weight decay", "train", "weight_decay"),
    ("steps_per_epoch", "steps/epoch", "train", "steps_per_epoch"),
    ("patience", "patience", "train", "patience"),
    ("augment", "augment", "data", "augment"),
    ("seed", "seed", "train", "seed"),
    ("device", "device", "train", "device"),
    ("feature_cache", "feature cache", "train", "feature_cache"),
    ("data", "data", "data", "root"),
    ("split_dir", "split dir", "data", "split_dir"),
    ("split", "split", "data", "split"),
    ("val_fraction", "val fraction", "data", "val_fraction"),
    ("test_fraction", "test fraction", "data", "test_fraction"),
]
# Always in the comparison table: what the lab compared, plus val and the epoch counts.
RESULTS = [
    ("test_accuracy", "test acc"), ("test_loss", "test loss"),
    ("train_accuracy", "train acc"), ("train_loss", "train loss"),
    ("val_accuracy", "val acc"), ("val_loss", "val loss"),
    ("train_seconds", "time (s)"), ("epochs", "epochs"), ("best_epoch", "best epoch"),
]
# Describe the data rather than the model: columns only where runs differ, else "same in all runs".
DATA_RESULTS = [
    ("classes", "classes"), ("num_train", "train clips"), ("num_val", "val clips"), ("num_test", "test clips"),
    ("skipped_files", "skipped files"), ("sample_fps", "sample fps"),
]
LABELS = {k: label for k, label, *_ in PARAMS} | dict(RESULTS) | dict(DATA_RESULTS)


@dataclass
class Run:
    """One finished run folder, as read from its JSON files."""

    path: Path
    name: str
    config: dict
    metrics: dict
    history: list[dict] = field(default_factory=list)
    per_class: dict = field(default_factory=dict)
    skipped: list[dict] = field(default_factory=list)

    def params(self) -> dict:
        out = {key: self.config.get(section, {}).get(name) for key, _, section, name in PARAMS}
        if not _has_backbone(out["model"]):  # a family without one ignores it; resnet152 would mislead
            out["backbone"] = None
        return out

    def value(self, key: str):
        if key == "classes":
            return len(self.config.get("class_names", []))
        return self.metrics[key] if key in self.metrics else self.params().get(key)


def _has_backbone(family) -> bool:
    """From the family's spec; a family this lrcn does not know shows none."""
    try:
        return family_spec(family).has_backbone
    except (ValueError, TypeError):  # TypeError: a name that is not a string
        return False


def _json(path: Path, default=None):
    if not path.is_file():
        if default is not None:
            return default
        raise ReportError(f"{path.parent}: not a finished run folder (no {path.name})")
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ReportError(f"{path}: unreadable ({e})") from None


def load_run(path: str | Path, name: str | None = None) -> Run:
    path = Path(path)
    return Run(path=path, name=name or path.name, config=_json(path / "config.json"),
               metrics=_json(path / "metrics.json"), history=_json(path / "history.json", []),
               per_class=_json(path / "per_class.json", {}), skipped=_json(path / "skipped.json", []))


def find_runs(args: list[str]) -> list[Path]:
    """Run folders from paths and globs (expanded here too, for shells that don't).

    A folder without metrics.json stands for the finished runs directly inside it (a sweep folder).
    """
    found: list[Path] = []
    for arg in args:
        matches = [arg] if os.path.exists(arg) else sorted(glob.glob(os.path.expanduser(arg), recursive=True))
        if not matches:
            raise ReportError(f"{arg}: no such run folder")
        for m in map(Path, matches):
            if not m.is_dir() or (m / "metrics.json").is_file():
                found.append(m)
                continue
            inner = sorted(p.parent for p in m.glob("*/metrics.json"))
            if not inner and len(matches) == 1:
                raise ReportError(f"{m}: not a finished run folder (no metrics.json) and holds none")
            found += inner
    unique = list(dict.fromkeys(p.resolve() for p in found if p.is_dir() and (p / "metrics.json").is_file()))
    if not unique:
        raise ReportError("no finished run folder (one with metrics.json) among " + " ".join(args))
    return unique


def load_runs(paths: list[Path]) -> list[Run]:
    """Runs named by their path below the common parent, so two `run` folders stay apart."""
    paths = [Path(p).resolve() for p in paths]
    base = Path(os.path.commonpath([p.parent for p in paths]))
    return [load_run(p, str(p.relative_to(base)) if len(paths) > 1 else p.name) for p in paths]


def lower_is_better(key: str) -> bool:
    return "accuracy" not in key


@dataclass
class Comparison:
    """The comparison table: runs in sorted order, columns that differ plus all results."""

    runs: list[Run]
    columns: list[str]
    shared: dict[str, object]
    """Column keys whose value is the same in every run, with that value."""
    best: int
    """Index into runs of the best run (by the sort metric, else test accuracy; ties by test loss)."""
    sort: str

    def rows(self) -> list[dict]:
        return [{k: r.value(k) for k in self.columns} for r in self.runs]


def _rank(key: str, value) -> tuple:
    """Sort key: missing values last; accuracies descending, everything else ascending."""
    if value is None:
        return (1, 0)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (0, -value if not lower_is_better(key) else value)
    return (0, str(value))


def sort_keys() -> list[str]:
    return [k for k, *_ in PARAMS] + [k for k, _ in RESULTS] + [k for k, _ in DATA_RESULTS]


def compare(runs: list[Run], sort: str = "test_accuracy") -> Comparison:
    if sort not in sort_keys():
        raise ValueError(f"--sort {sort!r}: choose one of {', '.join(sort_keys())}")
    varying, shared = [], {}
    for key in [k for k, *_ in PARAMS] + [k for k, _ in DATA_RESULTS]:
        values = [r.value(key) for r in runs]
        if len(runs) > 1 and any(v != values[0] for v in values):
            varying.append(key)
        else:
            shared[key] = values[0]
    params = [k for k, *_ in PARAMS if k in varying]
    columns = params + [k for k, _ in RESULTS] + [k for k, _ in DATA_RESULTS if k in varying]
    ordered = sorted(runs, key=lambda r: (_rank(sort, r.value(sort)), _rank("test_loss", r.value("test_loss"))))
    metric = sort if sort in dict(RESULTS) and sort not in ("epochs", "best_epoch") else "test_accuracy"
    best = min(range(len(ordered)), key=lambda i: (_rank(metric, ordered[i].value(metric)),
                                                   _rank("test_loss", ordered[i].value("test_loss"))))
    return Comparison(runs=ordered, columns=columns, shared=shared, best=best, sort=sort)


def fmt(key: str, value) -> str:
    """One cell, the same in report.md and report.html."""
    if value is None or value == []:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, float):
        if "accuracy" in key or "loss" in key:
            return f"{value:.4f}"
        if key in ("train_seconds", "sample_fps"):
            return f"{value:.1f}"
        return f"{value:g}"
    return str(value)


def plot_overlay(runs: list[Run], path: Path) -> bool:
    """Validation loss and accuracy of every run on one pair of axes; False when no run has history."""
    runs = [r for r in runs if r.history]
    if not runs:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for r in runs:
        ep = [h["epoch"] for h in r.history]
        a.plot(ep, [h["val_loss"] for h in r.history], "o-", ms=3, label=r.name)
        b.plot(ep, [h["val_accuracy"] for h in r.history], "o-", ms=3, label=r.name)
    a.set(xlabel="epoch", ylabel="val loss", title="validation loss")
    b.set(xlabel="epoch", ylabel="val accuracy", title="validation accuracy", ylim=(0, 1.02))
    from matplotlib.ticker import MaxNLocator

    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    b.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def write_report(paths: list[Path], out: Path | None = None, sort: str = "test_accuracy") -> list[Path]:
    """report.md, report.html and compare.png in `out` (default: the runs' common parent)."""
    from lrcn.train.report_html import comparison_page
    from lrcn.train.report_md import comparison_markdown

    runs = load_runs(paths)
    cmp = compare(runs, sort)
    out = Path(out) if out else Path(os.path.commonpath([r.path.parent for r in runs]))
    out.mkdir(parents=True, exist_ok=True)
    overlay = out / "compare.png"
    has_overlay = plot_overlay(cmp.runs, overlay) if len(runs) > 1 else False
    (out / "report.md").write_text(comparison_markdown(cmp, out, overlay if has_overlay else None))
    (out / "report.html").write_text(comparison_page(cmp, out, overlay if has_overlay else None))
    return [out / "report.md", out / "report.html"]


def write_run_report(run_dir: str | Path) -> Path:
    """The run's own report.html: results, curves, confusion, per-class accuracy, timings, config, skips."""
    from lrcn.train.report_html import run_page

    run = load_run(run_dir)
    path = run.path / "report.html"
    path.write_text(run_page(run))
    return path
