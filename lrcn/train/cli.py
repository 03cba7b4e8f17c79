"""`vc-train`: train a CNN-LSTM on a UCF101-style folder (root/<class>/<video>)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Annotated

import typer

from lrcn.core.checks import with_flags
from lrcn.core.paths import CACHE_DIR
from lrcn.models.specs import family_names, family_spec
from lrcn.runtime.console import fail, one_line_errors

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=False)
LIST = " A comma list sweeps (one run per combination)."
FLAGS = {
    "name": "--model",
    "num_frames": "--frames",
    "img_size": "--img-size",
    "modality": "--input",
    "zoom": "--zoom",
    "region": "--region",
    "num_classes": "--num-classes",
    "augment": "--augment",
    "latent_dim": "--latent-dim",
    "hidden_size": "--hidden-size",
    "lstm_layers": "--lstm-layers",
    "dropout": "--dropout",
    "norm": "--norm",
    "backbone": "--backbone",
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "lr": "--lr",
    "steps_per_epoch": "--steps-per-epoch",
    "workers": "--workers",
    "device": "--device",
    "patience": "--patience",
    "dist_timeout_s": "--dist-timeout",
    "val_fraction": "--val-frac",
    "test_fraction": "--test-frac",
    "folds": "--folds",
    "split_dir": "--split-dir",
    "test_root": "--test-data",
    "label_smoothing": "--label-smoothing",
    "schedule": "--schedule",
    "select": "--select",
    "warmup_epochs": "--warmup",
    "weight_decay": "--weight-decay",
    "ema": "--ema",
    "mixup": "--mixup",
    "step_loss": "--step-loss",
    "members": "--members",
    "pool": "--pool",
}
"""The configs' parameters -> this CLI's flags, for its error messages."""


@contextmanager
def _as_flags():
    """Config errors name the library's parameters; vc-train's user reads its flags instead."""
    try:
        yield
    except ValueError as e:
        raise ValueError(with_flags(str(e), FLAGS)) from None


def _used_by(option: str) -> str:
    """Which families read a ModelConfig field, from their specs (for the help texts)."""
    return ", ".join(n for n in family_names() if option in family_spec(n).options) or "no family"


def several_ranks_now() -> bool:
    from lrcn.train.launch import several_ranks

    return several_ranks()


def _csv(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value else None


@app.command()
def main(
    ctx: typer.Context,
    data: Annotated[str, typer.Option(help="Dataset folder root/<class>/<video>.")] = "artifacts/data/synth",
    model: Annotated[str, typer.Option(help=f"Model family: {', '.join(family_names())}.{LIST}")] = "convlstm",
    frames: Annotated[
        str | None,
        typer.Option(
            help=f"T: frames per clip, spread evenly over each video (15); auto (small-real): 15, or the "
            f"median clip's frames minus one when fewer.{LIST}",
        ),
    ] = None,
    img_size: Annotated[
        str | None, typer.Option(help=f"Frames are resized to img_size x img_size (128; small-real: 64).{LIST}")
    ] = None,
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            help=f"Modality: rgb, diff, adiff (diff with the camera's pan taken out), flow, rgb+diff or rgb+flow (diff); auto (small-real): diff, or rgb+diff "
            f"when the median clip has 15 frames or fewer.{LIST}",
        ),
    ] = None,
    zoom: Annotated[
        str | None,
        typer.Option(
            help="motion: cut each clip to where it moves before resizing (people small in a wide fixed view); "
            "none: whole frames; auto: motion when the median clip moves within less than half the frame "
            "(none; small-real auto). A zoomed model streams in window mode, re-encoding the window when its box moves."
        ),
    ] = None,
    region: Annotated[
        str | None,
        typer.Option(
            help="x0,y0,x1,y1 in fractions of the frame: cut every frame to this part of a fixed camera's view "
            "first (the yard, not the road beside it), in training and wherever the model runs; the model "
            "records it. --zoom auto then reads motion inside it (the whole frame)."
        ),
    ] = None,
    latent_dim: Annotated[str, typer.Option(help=f"Per-frame feature size.{LIST}")] = "128",
    hidden_size: Annotated[str, typer.Option(help=f"LSTM hidden size.{LIST}")] = "128",
    lstm_layers: Annotated[str, typer.Option(help=f"LSTM layers.{LIST}")] = "1",
    bidirectional: Annotated[bool, typer.Option(help="Bidirectional LSTM head.")] = False,
    pool: Annotated[
        str | None,
        typer.Option(
            help="How the head reads the LSTM over time: last (its final state) or mean (the mean of every "
            "step's output; streams in window mode only, no --stateful) (last)."
        ),
    ] = None,
    members: Annotated[
        int | None,
        typer.Option(
            help="Train an ensemble of N LRCNs side by side (own initialisation, own loss) and predict their mean "
            "probability: N times the compute, steadier on small data (1; small-real 3)."
        ),
    ] = None,
    dropout: Annotated[str | None, typer.Option(help=f"Dropout before the classifier (0.3).{LIST}")] = None,
    norm: Annotated[str, typer.Option(help=f"CNN normalisation, batch or none ({_used_by('norm')}).")] = "batch",
    backbone: Annotated[str, typer.Option(help=f"resnet18/34/50/101/152 ({_used_by('backbone')}).")] = "resnet152",
    backbone_weights: Annotated[
        str | None, typer.Option(help=f"Local backbone state dict, offline ({_used_by('backbone_weights')}).")
    ] = None,
    lr: Annotated[str | None, typer.Option(help=f"Learning rate (1e-3).{LIST}")] = None,
    batch_size: Annotated[str | None, typer.Option(help=f"Clips per batch (8).{LIST}")] = None,
    epochs: Annotated[
        int | None, typer.Option(help="Epochs (15; small-real 60; with --resume, the new total).")
    ] = None,
    steps_per_epoch: Annotated[int | None, typer.Option(help="Cap optimizer steps per epoch.")] = None,
    workers: Annotated[int, typer.Option(help="DataLoader workers.")] = 0,
    patience: Annotated[int | None, typer.Option(help="Early stop after N epochs without better val loss.")] = None,
    augment: Annotated[
        str | None,
        typer.Option(
            help="Comma list of flip,crop,color,temporal (off; small-real crop,temporal,flip); 'none' turns a recipe's off."
        ),
    ] = None,
    recipe: Annotated[
        str,
        typer.Option(
            help="Defaults preset: auto (small-real below 1000 clips, else default), "
            "default or small-real. Options given here override it."
        ),
    ] = "auto",
    weight_decay: Annotated[float | None, typer.Option(help="AdamW weight decay (1e-4).")] = None,
    label_smoothing: Annotated[float | None, typer.Option(help="Cross-entropy label smoothing (0).")] = None,
    schedule: Annotated[str | None, typer.Option(help="lr schedule: plateau or cosine (plateau).")] = None,
    warmup: Annotated[int | None, typer.Option(help="Warm-up epochs of the cosine schedule (0).")] = None,
    ema: Annotated[
        float | None,
        typer.Option(help="Average the weights over training steps with this decay, e.g. 0.99 (0: off)."),
    ] = None,
    mixup: Annotated[
        float | None,
        typer.Option(help="Mix training clips in pairs, weight ~ Beta(a, a) per batch, e.g. 0.2 (0: off)."),
    ] = None,
    step_loss: Annotated[
        float | None,
        typer.Option(
            help="Also train the classifier at every LSTM step with this weight, 0-1 (0: off; pool last, "
            "unidirectional heads)."
        ),
    ] = None,
    select: Annotated[
        str | None,
        typer.Option(
            help="best.pt keeps the epoch with the best val loss, accuracy, or the last one (loss; small-real last)."
        ),
    ] = None,
    val_frac: Annotated[
        float | None, typer.Option(help="Share of each class's groups for validation (0.15; small-real 0: they train).")
    ] = None,
    test_frac: Annotated[
        float, typer.Option(help="Share of each class's groups for test (0 with --test-data).")
    ] = 0.15,
    test_data: Annotated[
        str | None,
        typer.Option(help="Separate test folder (same class folders): all of --data then goes to train and val."),
    ] = None,
    folds: Annotated[
        int | None,
        typer.Option(
            help="Group k-fold: K runs on group-disjoint test folds and a "
            "summary (K = number of groups: leave-one-group-out)."
        ),
    ] = None,
    final: Annotated[bool, typer.Option(help="With --folds: then train the model to export on every clip.")] = True,
    classes: Annotated[str | None, typer.Option(help="Comma list of class folders to use.")] = None,
    num_classes: Annotated[int | None, typer.Option(help="Use the first N classes (sorted).")] = None,
    split_dir: Annotated[str | None, typer.Option(help="UCF101 split files folder (classInd.txt, ...).")] = None,
    split: Annotated[int, typer.Option(help="Which official split, K in trainlist0K.txt.")] = 1,
    seed: Annotated[str, typer.Option(help=f"Random seed (splits, init, shuffling).{LIST}")] = "0",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    no_feature_cache: Annotated[
        bool, typer.Option("--no-feature-cache", help="Run the frozen backbone every step.")
    ] = False,
    cache_dir: Annotated[str, typer.Option(help="Decoded-clip and feature cache.")] = str(CACHE_DIR),
    out: Annotated[
        str | None,
        typer.Option(
            help="Run folder (default artifacts/runs/<model>-<time>); for a "
            "sweep, the folder of its runs (default artifacts/runs/sweep-<time>)."
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(help="Continue the run in this folder from its last.pt (or a --budget search where it stopped)."),
    ] = None,
    budget: Annotated[
        str,
        typer.Option(
            help="Wall time for choosing the configuration by group k-fold on this data (30m, 90s, 1h) when the "
            "auto recipe finds fewer than 1000 clips, or with --search; 0: the recipe as it is. With --folds "
            "the search runs inside each outer fold (nested), each with this budget."
        ),
    ] = "0",
    search: Annotated[bool, typer.Option("--search", help="Search within --budget whatever the data's size.")] = False,
    inner_folds: Annotated[int, typer.Option(help="Group folds of the search's cross-validation.")] = 3,
    trials: Annotated[int | None, typer.Option(help="Stop the search after N trials (the budget still holds).")] = None,
    prefer_recipe: Annotated[
        bool,
        typer.Option(
            help="The search keeps the recipe unless a configuration beats it by more than one standard error "
            "over the clips; --no-prefer-recipe: the best inner mean wins."
        ),
    ] = True,
    nproc: Annotated[
        int | None,
        typer.Option(
            help="Train data-parallel in N processes on this machine (one per "
            "GPU, or gloo on the CPU): runs torchrun for you."
        ),
    ] = None,
    dist_timeout: Annotated[
        float, typer.Option(help="Under torchrun: seconds a rank waits for its peers before the job fails.")
    ] = 1800.0,
) -> None:
    """Train one model and write its run folder; comma lists train the grid one run after another."""
    with one_line_errors():
        from lrcn.train.recipe import (
            Survey,
            class_counts,
            frames_for,
            input_for,
            members_for,
            resolve,
            settings,
            survey,
            without_flip,
            zoom_for,
        )
        from lrcn.train.sweep import parse_lists

        if resume:
            from lrcn.train.nested import is_nested, resume_nested
            from lrcn.train.search import is_search, resume_search

            if is_nested(resume):
                resume_nested(resume)
                return
            if is_search(resume):
                resume_search(resume)
                return
        from lrcn.train.search import SearchConfig, parse_duration

        budget_s = parse_duration(budget)
        from lrcn.runtime.rect import WHOLE, parse_rect, rect_text

        try:
            rect = parse_rect(region) if region is not None else WHOLE
        except ValueError as e:
            raise fail(f"--region {e}", 2) from None
        if resume and region is not None:
            raise fail("--resume keeps the run's own region: drop --region", 2)
        if search and not budget_s:
            raise fail("--search needs a --budget above 0 (e.g. --budget 30m)", 2)
        if resume:
            recipe, why = "default", ""  # a resumed run keeps its own saved settings
        else:
            recipe, why = resolve(
                recipe, data, _csv(classes), num_classes
            )  # printed by the run, once the data folder is known good
        r = settings(
            recipe,
            {
                "frames": frames,
                "img_size": img_size,
                "input": input,
                "lr": lr,
                "dropout": dropout,
                "batch_size": batch_size,
                "epochs": epochs,
                "weight_decay": weight_decay,
                "label_smoothing": label_smoothing,
                "schedule": schedule,
                "warmup": warmup,
                "select": select,
                "ema": ema,
                "mixup": mixup,
                "step_loss": step_loss,
                "val_frac": val_frac,
                "augment": augment,
                "zoom": zoom,
                "members": members,
                "pool": pool,
            },
        )
        if rect != WHOLE:
            why = f"{why}\nregion {rect_text(rect)}: every frame is cut to it first, here and wherever the model runs"
        if augment is None and not resume:  # the recipe's flip, unless the class names have a side
            r, flip_why = without_flip(r, list(class_counts(data, _csv(classes), num_classes)))
            why = f"{why}\n{flip_why}" if flip_why else why
        choosers = {"frames": frames_for, "input": input_for, "zoom": zoom_for}
        for k in choosers:
            if "auto" in str(r[k]).split(",") and r[k] != "auto":
                raise fail(f"--{k} auto is read from the clips once: give it alone, not in a list ({r[k]})", 2)
        autos = [k for k in choosers if r[k] == "auto"]
        if autos:  # read from the clips; a resumed run keeps its saved settings
            nothing = Survey([], [])  # what a resumed run or an unreadable folder gets: each rule's usual answer
            r = {**r, **{k: choosers[k](nothing)[0] for k in autos}}
            if not resume:
                from lrcn.train.config import DataConfig
                from lrcn.train.data import DatasetError, discover

                try:
                    listed = DataConfig(root=data, classes=_csv(classes), num_classes=num_classes)
                    found = survey([s.path for s in discover(listed)[1]], region=rect)
                except (DatasetError, ValueError, OSError):
                    found = survey([])  # the run itself says what is wrong with the folder
                for k in autos:
                    r[k], line = choosers[k](found)
                    why = f"{why}\n{line}" if line else why
        lists = parse_lists(
            {
                "model": model,
                "lr": r["lr"],
                "frames": r["frames"],
                "img_size": r["img_size"],
                "input": r["input"],
                "latent_dim": latent_dim,
                "hidden_size": hidden_size,
                "lstm_layers": lstm_layers,
                "dropout": r["dropout"],
                "batch_size": r["batch_size"],
                "seed": seed,
            }
        )
        bad = [m for m in lists["model"] if m not in family_names()]
        if bad:
            raise fail(f"unknown model {bad[0]!r}; choose one of {', '.join(family_names())}", 2)
        sweep = [k for k, v in lists.items() if len(v) > 1]
        searching = bool(budget_s) and not resume and (search or recipe == "small-real")
        if searching and (sweep or nproc or several_ranks_now()):
            raise fail("--budget searches in one process: drop --nproc and comma lists", 2)
        if budget_s and not searching and not resume:
            why = f"{why}\n--budget {budget}: no search ({recipe} recipe; --search searches at any size)"
        if folds and (sweep or resume or nproc):
            raise fail("--folds trains its K runs one after another: drop --resume, --nproc and comma lists", 2)
        if sweep and resume:
            raise fail(f"--resume continues one run; drop the comma lists ({', '.join(sweep)})", 2)
        from lrcn.train.launch import launch_torchrun, several_ranks

        if sweep and (nproc or several_ranks()):
            raise fail(
                f"a data-parallel job trains one run; drop the comma lists ({', '.join(sweep)}) "
                "or sweep one process at a time",
                2,
            )
        if nproc is not None:
            # the ranks train what this process read from the clips, not a survey each
            chosen = {k: str(r[k]) for k in autos}
            raise typer.Exit(launch_torchrun(ctx, nproc, chosen))
        v = {k: vals[0] for k, vals in lists.items()}
        from lrcn.models.config import ModelConfig
        from lrcn.train.config import DataConfig, TrainConfig

        with _as_flags():
            model_cfg = ModelConfig(
                name=v["model"],
                img_size=v["img_size"],
                latent_dim=v["latent_dim"],
                hidden_size=v["hidden_size"],
                lstm_layers=v["lstm_layers"],
                bidirectional=bidirectional,
                pool=str(r["pool"]),
                members=members_for(v["model"], int(str(r["members"])), from_recipe=members is None),
                dropout=v["dropout"],
                norm=norm,
                backbone=backbone,
                backbone_weights=backbone_weights,
            )
            data_cfg = DataConfig(
                root=data,
                num_frames=v["frames"],
                img_size=v["img_size"],
                modality=v["input"],
                zoom=str(r["zoom"]),
                region=list(rect),
                classes=_csv(classes),
                num_classes=num_classes,
                split_dir=split_dir,
                split=split,
                augment=[a for a in _csv(r["augment"]) or [] if a != "none"],
                cache_dir=cache_dir,
                val_fraction=float(r["val_frac"]),
                test_fraction=0.0 if test_data else test_frac,
                test_root=test_data,
                folds=folds,
            )
            train_cfg = TrainConfig(
                epochs=r["epochs"],
                batch_size=v["batch_size"],
                lr=v["lr"],
                weight_decay=r["weight_decay"],
                label_smoothing=r["label_smoothing"],
                schedule=r["schedule"],
                warmup_epochs=r["warmup"],
                select=r["select"],
                ema=r["ema"],
                mixup=float(r["mixup"]),
                # a recipe's per-step loss goes with heads that have steps; asked for by hand, it is checked below
                step_loss=float(r["step_loss"]) if step_loss is not None or not model_cfg.step_absent else 0.0,
                recipe=recipe,
                recipe_why=why,
                steps_per_epoch=steps_per_epoch,
                workers=workers,
                seed=v["seed"],
                device=device,
                patience=patience,
                feature_cache=not no_feature_cache,
                out=out,
                dist_timeout_s=dist_timeout,
            )
            if train_cfg.step_loss and model_cfg.step_absent:
                raise ValueError(
                    f"step_loss needs a head with an output at every step; this is a {model_cfg.step_absent}"
                )
        if sweep:
            from pathlib import Path

            from lrcn.train.sweep import default_sweep_dir, expand, run_sweep

            with _as_flags():
                # every point validated before any work; the recipe's ensemble only for families trained whole
                runs = expand(
                    model_cfg, data_cfg, train_cfg, lists, recipe_members=None if members else int(str(r["members"]))
                )
            run_sweep(runs, Path(out) if out else default_sweep_dir())
            return
        if searching:
            with _as_flags():
                search_cfg = SearchConfig(
                    budget_s=budget_s, inner_folds=inner_folds, trials=trials, prefer_base=prefer_recipe
                )
            if folds:
                from lrcn.train.nested import run_nested

                run_nested(model_cfg, data_cfg, train_cfg, search_cfg, final=final)
            else:
                from lrcn.train.search import run_search

                run_search(model_cfg, data_cfg, train_cfg, search_cfg)
            return
        if folds:
            from lrcn.train.folds import run_folds

            run_folds(model_cfg, data_cfg, train_cfg, final=final)
            return
        from lrcn.train.run import train

        train(model_cfg, data_cfg, train_cfg, resume=resume, epochs=epochs)
        if several_ranks():
            from lrcn.train.distributed import env_ranks, finish

            finish(env_ranks())


if __name__ == "__main__":
    app()
