"""Experiment reports from run folders: load runs, compare them, write report.md / report.html.

Reads only the run-folder contract (JSON and PNG files), never torch, so vc-report starts fast
and works on runs copied off a training machine.
"""

from __future__ import annotations

import glob
import json
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from lrcn.core.errors import LrcnError
from lrcn.core.paths import REPORTS_DIR, fresh_folder
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
    ("members", "members", "model", "members"),
    ("bidirectional", "bidirectional", "model", "bidirectional"),
    ("pool", "pool", "model", "pool"),
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
    ("test_accuracy", "test acc"),
    ("test_loss", "test loss"),
    ("train_accuracy", "train acc"),
    ("train_loss", "train loss"),
    ("val_accuracy", "val acc"),
    ("val_loss", "val loss"),
    ("train_seconds", "time (s)"),
    ("epochs", "epochs"),
    ("best_epoch", "best epoch"),
]
# Describe the data rather than the model: columns only where runs differ, else "same in all runs".
DATA_RESULTS = [
    ("classes", "classes"),
    ("num_train", "train clips"),
    ("num_val", "val clips"),
    ("num_test", "test clips"),
    ("skipped_files", "skipped files"),
    ("sample_fps", "sample fps"),
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
        if out["members"] is None:  # a run from before --members trained one model
            out["members"] = 1
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


MAX_JSON_BYTES = 20 * 2**20
"""A run folder's JSON file larger than this is refused (ours are a few kB)."""
SWEEP_MARKER = ".lrcn-sweep"
"""vc-train writes this file into a sweep folder it makes: vc-report then writes its report there."""


def _json(path: Path, kind: type, default=None):
    if not path.is_file():
        if default is not None:
            return default
        raise ReportError(f"{path.parent}: not a finished run folder (no {path.name})")
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise ReportError(f"{path}: over {MAX_JSON_BYTES >> 20} MB, not a run folder's file")
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as e:
        raise ReportError(f"{path}: unreadable ({type(e).__name__}: {e})") from None
    if not isinstance(doc, kind):
        raise ReportError(f"{path}: malformed (a JSON {kind.__name__} expected, not {type(doc).__name__})")
    return doc


def _check(ok: bool, path: Path, what: str) -> None:
    if not ok:
        raise ReportError(f"{path}: malformed ({what})")


def _number(v) -> bool:
    return v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))


def load_run(path: str | Path, name: str | None = None) -> Run:
    """Read one run folder; a file of the wrong shape is one ReportError naming it, not a traceback later."""
    path = Path(path)
    config, metrics = _json(path / "config.json", dict), _json(path / "metrics.json", dict)
    history, per_class = _json(path / "history.json", list, []), _json(path / "per_class.json", dict, {})
    skipped = _json(path / "skipped.json", list, [])
    _check(
        all(isinstance(config.get(s, {}), dict) for s in ("model", "data", "train", "preprocess")),
        path / "config.json",
        "model, data, train and preprocess must be objects",
    )
    names = config.get("class_names", [])
    _check(
        isinstance(names, list) and all(isinstance(n, str) for n in names),
        path / "config.json",
        "class_names must be a list of strings",
    )
    _check(
        all(
            isinstance(h, dict)
            and all(_number(h.get(k)) for k in ("epoch", "val_loss", "val_accuracy"))
            and h.get("epoch") is not None
            for h in history
        ),
        path / "history.json",
        "each epoch an object with numeric epoch, val_loss, val_accuracy",
    )
    acc, matrix = per_class.get("accuracy") or {}, per_class.get("confusion") or []
    _check(
        isinstance(acc, dict) and all(isinstance(k, str) and _number(v) for k, v in acc.items()),
        path / "per_class.json",
        "accuracy must map class names to numbers",
    )
    _check(
        isinstance(matrix, list)
        and all(isinstance(r, list) and all(_number(x) and x is not None for x in r) for r in matrix),
        path / "per_class.json",
        "confusion must be a list of rows of numbers",
    )
    _check(all(isinstance(s, dict) for s in skipped), path / "skipped.json", "each entry an object")
    return Run(
        path=path,
        name=name or path.name,
        config=config,
        metrics=metrics,
        history=history,
        per_class=per_class,
        skipped=skipped,
    )


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
    best = min(
        range(len(ordered)),
        key=lambda i: (_rank(metric, ordered[i].value(metric)), _rank("test_loss", ordered[i].value("test_loss"))),
    )
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


def report_folder(runs: list[Run], out: Path | None) -> Path:
    """Where vc-report writes: `out` when given; else the runs' common parent only when it is a sweep
    folder vc-train made (it holds SWEEP_MARKER); else a new folder under artifacts/reports.

    A folder of runs from elsewhere is input, and input is never written unless the user asks.
    """
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        return out
    parent = Path(os.path.commonpath([r.path.parent for r in runs]))
    marker = parent / SWEEP_MARKER
    if marker.is_file() and not marker.is_symlink():
        return parent
    return fresh_folder(REPORTS_DIR, f"report-{datetime.now():%Y%m%d-%H%M%S}")
