"""`vc-train --folds K --budget D`: the configuration search nested in group k-fold.

For each outer fold, the search (lrcn.train.search) runs on that fold's training clips only,
with its own inner group folds, then its winner trains on those clips and is tested on the
outer fold: the K test accuracies (folds.json, as for a plain --folds run) come from choices
that never saw their test clips, so their mean is the honest estimate of the whole procedure.
With `final`, one more search over every clip picks the configuration of final/, the model to
export. Each search gets the whole budget.

Layout: fold-1 .. fold-K (the outer runs), search-fold-1 .. (their searches), search-final and
final/, nested.json (what was asked, for --resume; then the winners and the outer accuracies),
folds.json / folds.md (lrcn.train.folds_report).
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

from lrcn.core.atomic import write_json
from lrcn.core.errors import LrcnError
from lrcn.train.search import Job, SearchConfig, is_search, new_job, search_and_train
from lrcn.train.search_space import SearchSpace

NESTED_FILE = "nested.json"


def is_nested(folder: str | Path) -> bool:
    return (Path(folder) / NESTED_FILE).is_file()


def outer_pool(samples: list, data_cfg, seed: int, fold: int) -> tuple[list[str], list[str]]:
    """(training clips, test clips) of outer fold `fold`, as paths."""
    from lrcn.train.folds import fold_split

    split = fold_split(samples, replace(data_cfg, fold=fold), seed)
    return sorted(s.path for s in split["train"] + split["val"]), sorted(s.path for s in split["test"])


def run_nested(
    model_cfg, data_cfg, train_cfg, search_cfg: SearchConfig, *, final: bool = True, console=None, space=None
) -> Path:
    from rich.console import Console

    from lrcn.core.atomic import write_text
    from lrcn.train.folds import assign_folds, default_parent
    from lrcn.train.report import SWEEP_MARKER

    console = console or Console()
    from lrcn.train.data import discover

    _, samples = discover(data_cfg)
    assign_folds(samples, data_cfg.folds, train_cfg.seed)  # refuses a bad K before any work
    parent = Path(train_cfg.out) if train_cfg.out else default_parent(model_cfg.name)
    if is_nested(parent):
        raise LrcnError(f"{parent}: holds a nested search already; continue it with vc-train --resume {parent}")
    parent.mkdir(parents=True, exist_ok=True)
    write_text(parent / SWEEP_MARKER, "vc-train k-fold folder: vc-report writes its report here\n")
    write_json(
        parent / NESTED_FILE,
        {
            "model": asdict(model_cfg),
            "data": asdict(data_cfg),
            "train": asdict(train_cfg),
            "search": asdict(search_cfg),
            "final": final,
            "space": space.to_dict() if space is not None else None,
        },
    )
    return _continue(parent, console)


def resume_nested(parent: str | Path, console=None) -> Path:
    from rich.console import Console

    return _continue(Path(parent), console or Console())


def _continue(parent: Path, console) -> Path:
    from lrcn.core.checks import from_dict
    from lrcn.models.config import ModelConfig
    from lrcn.train.config import DataConfig, TrainConfig
    from lrcn.train.data import discover
    from lrcn.train.folds import summary_line
    from lrcn.train.folds_report import summarize

    d = json.loads((parent / NESTED_FILE).read_text())
    model_cfg, data_cfg = ModelConfig.from_dict(d["model"]), from_dict(DataConfig, d["data"])
    train_cfg, search_cfg = from_dict(TrainConfig, d["train"]), SearchConfig(**d["search"])
    _, samples = discover(replace(data_cfg, fold=None))
    counts = parent / "frame_counts.json"
    winners = d.get("winners", {})
    space = SearchSpace.from_dict(d["space"]) if d.get("space") else None
    for i in range(data_cfg.folds):
        console.rule(f"outer fold {i + 1}/{data_cfg.folds}: search on its training clips, then test")
        pool, test = outer_pool(samples, data_cfg, train_cfg.seed, i)
        folder = parent / f"search-fold-{i + 1}"
        job = Job.load(folder) if is_search(folder) else None
        if job is None:
            job = new_job(folder, model_cfg, replace(data_cfg, fold=i), train_cfg, search_cfg, pool, counts, space)
        outer = replace(job.data, clips=None, folds=data_cfg.folds, fold=i)
        out = search_and_train(job, console, outer, parent / f"fold-{i + 1}")
        rank = json.loads((folder / "ranking.json").read_text())
        acc = json.loads((out / "metrics.json").read_text())["test_accuracy"]
        winners[f"fold-{i + 1}"] = {
            "winner": rank["winner"]["key"] if rank["winner"] else None,
            "inner_mean": rank["winner"]["mean"] if rank["winner"] else None,
            "winner_rule": rank.get("winner_rule"),
            "outer_test_accuracy": acc,
            "trials": len(rank["rows"]),
            "search_seconds": rank["spent_s"],
            "test_clips": len(test),
        }
        write_json(parent / NESTED_FILE, {**d, "winners": winners})
        console.print(f"outer fold {i + 1}: winner {winners[f'fold-{i + 1}']['winner']}, outer test accuracy {acc:.3f}")
    summary = summarize(parent)
    console.print("nested " + summary_line(summary) + "  (the honest estimate: no choice saw its test fold)")
    if d["final"]:
        console.rule("final model: the search over every clip, then its winner on every clip")
        folder = parent / "search-final"
        job = Job.load(folder) if is_search(folder) else None
        if job is None:
            job = new_job(
                folder, model_cfg, replace(data_cfg, folds=None, fold=None), train_cfg, search_cfg, None, counts, space
            )
        final = replace(job.data, clips=None, folds=None, fold=None, test_fraction=0.0)
        out = search_and_train(job, console, final, parent / "final")
        summary = summarize(parent)
        console.print(f"final model {out}  (export it: vc-export --run {out})")
    return parent
