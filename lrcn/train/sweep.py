"""Sweeps: comma lists on vc-train options expand into a grid of runs, trained one after another.

`--lr 2e-5,2e-4 --frames 15,20` gives four runs, `<sweep folder>/convlstm-lr2e-05-frames15` and so
on, then a vc-report over them in the sweep folder.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from lrcn.core.paths import RUNS_DIR, fresh_folder

if TYPE_CHECKING:  # importing lrcn.models pulls in torch; parsing a list should not
    from lrcn.models.config import ModelConfig
    from lrcn.train.config import DataConfig, TrainConfig

# option -> (folder-name tag, type, [(config, field), ...]); the model is always the name's first part.
SWEEPABLE: dict[str, tuple[str, type, list[tuple[str, str]]]] = {
    "model": ("", str, [("model", "name")]),
    "lr": ("lr", float, [("train", "lr")]),
    "frames": ("frames", int, [("data", "num_frames")]),
    "img_size": ("img", int, [("data", "img_size"), ("model", "img_size")]),
    "input": ("input", str, [("data", "modality")]),
    "latent_dim": ("latent", int, [("model", "latent_dim")]),
    "hidden_size": ("hidden", int, [("model", "hidden_size")]),
    "lstm_layers": ("layers", int, [("model", "lstm_layers")]),
    "dropout": ("dropout", float, [("model", "dropout")]),
    "batch_size": ("bs", int, [("train", "batch_size")]),
    "seed": ("seed", int, [("train", "seed")]),
}


@dataclass
class SweepRun:
    """One point of the grid: its folder name and its three configs."""

    name: str
    model: ModelConfig
    data: DataConfig
    train: TrainConfig


def _option(key: str) -> str:
    return "--" + key.replace("_", "-")


def parse_lists(raw: dict[str, str | int | float]) -> dict[str, list]:
    """{'lr': '2e-5,2e-4'} -> {'lr': [2e-05, 0.0002]}: typed, in the order given, repeats dropped."""
    lists = {}
    for key, text in raw.items():
        kind = SWEEPABLE[key][1]
        items = [t.strip() for t in str(text).split(",") if t.strip()]
        if not items:
            raise ValueError(f"{_option(key)} needs a value, got {text!r}")
        try:
            values = [kind(t) for t in items]
        except ValueError:
            what = "an integer" if kind is int else "a number"
            raise ValueError(f"{_option(key)} takes {what} or a comma list of them, got {text!r}") from None
        lists[key] = list(dict.fromkeys(values))
    return lists


def _tag(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def run_name(point: dict, lists: dict[str, list]) -> str:
    """`<model>-lr2e-05-frames15`: the model, then each option that takes several values."""
    swept = [k for k, v in lists.items() if len(v) > 1 and k != "model"]
    return "-".join([str(point.get("model", "run"))] + [f"{SWEEPABLE[k][0]}{_tag(point[k])}" for k in swept])


def expand(
    model: ModelConfig, data: DataConfig, train: TrainConfig, lists: dict[str, list], recipe_members: int | None = None
) -> list[SweepRun]:
    """The grid as configs, each validated by its dataclass before any run starts. recipe_members: the
    recipe's ensemble size, which each point's family takes only if it trains whole (recipe.members_for)."""
    keys = list(lists)
    runs, seen = [], set()
    for values in itertools.product(*(lists[k] for k in keys)):
        point = dict(zip(keys, values))
        changes: dict[str, dict] = {"model": {}, "data": {}, "train": {}}
        for key, value in point.items():
            for section, name in SWEEPABLE[key][2]:
                changes[section][name] = value
        name = run_name({"model": model.name, **point}, lists)
        if name in seen:  # two values that print alike (1e-3 and 0.001000001): keep folders apart
            name = f"{name}-{len(runs) + 1}"
        seen.add(name)
        data_i = replace(data, **changes["data"])  # first: its messages name the CLI options
        if recipe_members is not None:
            from lrcn.train.recipe import members_for

            family = changes["model"].get("name", model.name)
            changes["model"]["members"] = members_for(family, recipe_members, from_recipe=True)
        runs.append(SweepRun(name, replace(model, **changes["model"]), data_i, replace(train, **changes["train"])))
    return runs


def default_sweep_dir() -> Path:
    """A new folder: two sweeps started in the same second get `-2`, never one shared folder."""
    return fresh_folder(RUNS_DIR, f"sweep-{datetime.now():%Y%m%d-%H%M%S}")


def run_sweep(runs: list[SweepRun], base: Path, console=None) -> list[Path]:
    """Train each run into base/<name>, one after another, then write the report in base.

    A run that fails on its data or configuration is reported and the sweep goes on; the sweep
    still fails at the end, naming it.
    """
    from rich.console import Console

    from lrcn.core.atomic import write_text
    from lrcn.core.errors import LrcnError
    from lrcn.runtime.console import safe_markup as safe
    from lrcn.train.report import SWEEP_MARKER
    from lrcn.train.report_write import write_report
    from lrcn.train.run import train

    console = console or Console()
    base.mkdir(parents=True, exist_ok=True)
    write_text(base / SWEEP_MARKER, "vc-train sweep folder: vc-report writes its report here\n")
    done, failed = [], []
    for i, run in enumerate(runs, 1):
        console.rule(f"sweep run {i}/{len(runs)}: {run.name}")
        try:
            done.append(train(run.model, run.data, replace(run.train, out=str(base / run.name)), console=console))
        except (LrcnError, ValueError) as e:
            console.print(f"[red]run {safe(run.name)} failed:[/] {safe(e)}")
            failed.append(run.name)
    if done:
        for path in write_report(done, base):
            console.print(f"report {safe(path)}")
    if failed:
        raise LrcnError(f"{len(failed)} of {len(runs)} sweep runs failed: {', '.join(failed)}")
    return done
