"""Group k-fold cross-validation: K runs on group-disjoint test folds, one summary over them.

A fold group is the recording a clip comes from: the gNN of a UCF101-style name
(v_<Class>_gNN_cMM), shared by every class, so one sequence of a multi-class recording
(UT-Interaction's sequences, UCF101's groups) never lands in two folds; a file without that
pattern is a group of its own. K equal to the number of groups is leave-one-group-out.

Layout of the parent folder: fold-1 .. fold-K (ordinary run folders, each tested on its own
fold), final/ (with `final`: one model trained on every clip, the one to export), folds.json
(mean and sd of the fold test accuracies, per-class accuracy and a confusion matrix pooled over
the folds), folds.md and confusion.png.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np

from lrcn.core.paths import RUNS_DIR, fresh_folder
from lrcn.train.config import DataConfig

_NUMBER = re.compile(r"^v_.+_g(?P<g>\d+)_c\d+$", re.IGNORECASE)
SUMMARY = "folds.json"


def fold_group(sample) -> str:
    """gNN for UCF101-style names (shared across classes), else the file's own class/stem."""
    stem = Path(sample.path).stem
    m = _NUMBER.match(stem)
    return f"g{int(m['g']):02d}" if m else f"{Path(sample.path).parent.name}/{stem}"


def assign_folds(samples: list, k: int, seed: int) -> list[list[str]]:
    """The groups of each of k folds: a seeded order, then each group (largest first) to the fold
    with the fewest clips so far, so folds hold about the same number of clips."""
    sizes: dict[str, int] = {}
    for s in samples:
        g = fold_group(s)
        sizes[g] = sizes.get(g, 0) + 1
    groups = sorted(sizes)
    if not 2 <= k <= len(groups):
        raise ValueError(f"--folds {k}: needs 2 to {len(groups)} folds (the data has {len(groups)} groups)")
    order = [groups[i] for i in np.random.default_rng(seed).permutation(len(groups))]
    order.sort(key=lambda g: -sizes[g])  # stable: equal sizes keep the seeded order
    folds: list[list[str]] = [[] for _ in range(k)]
    load = [0] * k
    for g in order:
        i = min(range(k), key=lambda j: (load[j], j))
        folds[i].append(g)
        load[i] += sizes[g]
    return [sorted(f) for f in folds]


def fold_split(samples: list, cfg: DataConfig, seed: int) -> dict[str, list]:
    """train/val/test of fold cfg.fold: test is that fold; val is a val_fraction share of the other
    folds' groups (whole groups, seeded), train the rest."""
    folds = assign_folds(samples, cfg.folds, seed)
    test_groups = set(folds[cfg.fold])
    rest = sorted({fold_group(s) for s in samples} - test_groups)
    n_val = max(1, round(len(rest) * cfg.val_fraction)) if cfg.val_fraction > 0 and len(rest) >= 2 else 0
    rng = np.random.default_rng([seed, cfg.fold, 7])
    val_groups = {rest[i] for i in rng.permutation(len(rest))[:n_val]}
    out: dict[str, list] = {"train": [], "val": [], "test": []}
    for s in samples:
        g = fold_group(s)
        out["test" if g in test_groups else "val" if g in val_groups else "train"].append(s)
    for v in out.values():
        v.sort(key=lambda s: s.path)
    return out


def default_parent(model: str) -> Path:
    return fresh_folder(RUNS_DIR, f"{model}-folds-{datetime.now().strftime('%Y%m%d-%H%M%S')}")


def run_folds(model_cfg, data_cfg: DataConfig, train_cfg, *, final: bool = True, console=None) -> Path:
    """Train every fold (then, with `final`, one model on all clips) and write the summary."""
    from rich.console import Console

    from lrcn.core.atomic import write_text
    from lrcn.train.data import discover
    from lrcn.train.folds_report import summarize
    from lrcn.train.report import SWEEP_MARKER
    from lrcn.train.run import train

    console = console or Console()
    _, samples = discover(data_cfg)
    groups = assign_folds(samples, data_cfg.folds, train_cfg.seed)  # refuses a bad K before any training
    parent = Path(train_cfg.out) if train_cfg.out else default_parent(model_cfg.name)
    parent.mkdir(parents=True, exist_ok=True)
    write_text(parent / SWEEP_MARKER, "vc-train k-fold folder: vc-report writes its report here\n")
    for i in range(data_cfg.folds):
        console.rule(f"fold {i + 1}/{data_cfg.folds}: test groups {', '.join(groups[i])}")
        train(
            replace(model_cfg),
            replace(data_cfg, fold=i),
            replace(train_cfg, out=str(parent / f"fold-{i + 1}")),
            console=console,
        )
    summary = summarize(parent)
    if final:
        console.rule("final model: every clip in train and val, no test split")
        train(
            replace(model_cfg),
            replace(data_cfg, folds=None, fold=None, test_fraction=0.0),
            replace(train_cfg, out=str(parent / "final")),
            console=console,
        )
        summary = summarize(parent)
    console.print(summary_line(summary))
    return parent


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
