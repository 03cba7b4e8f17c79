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

from dataclasses import replace
from datetime import datetime
from pathlib import Path

from lrcn.core.paths import RUNS_DIR, fresh_folder
from lrcn.train.config import DataConfig
from lrcn.train.fold_groups import assign_folds, fold_group, fold_split  # noqa: F401 - this module's API too
from lrcn.train.folds_report import SUMMARY, mean_sd, summarize, summary_line  # noqa: F401 - ditto


def default_parent(model: str) -> Path:
    return fresh_folder(RUNS_DIR, f"{model}-folds-{datetime.now().strftime('%Y%m%d-%H%M%S')}")


def run_folds(model_cfg, data_cfg: DataConfig, train_cfg, *, final: bool = True, console=None) -> Path:
    """Train every fold (then, with `final`, one model on all clips) and write the summary."""
    from rich.console import Console

    from lrcn.core.atomic import write_text
    from lrcn.train.data import discover
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
