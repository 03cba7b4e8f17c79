"""A training run: data -> caches -> model -> epochs -> checkpoints -> test -> the run folder.

The run folder is a contract read by vc-export, vc-run and vc-report:
config.json, splits.json, best.pt, last.pt, history.json, metrics.json, per_class.json,
skipped.json, curves.png, confusion.png, report.html.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import lrcn
from lrcn.models.config import ModelConfig
from lrcn.models.registry import build_model
from lrcn.models.specs import family_spec
from lrcn.core.errors import LrcnError
from lrcn.core.paths import RUNS_DIR
from lrcn.runtime.preprocess import channels_for
from lrcn.train import data as D
from lrcn.train import distributed, shared_cache
from lrcn.train.augment import Augment, dense_frames
from lrcn.train.checkpoint import load_checkpoint, remove_stale_temps, save_checkpoint, write_json
from lrcn.train.config import DataConfig, TrainConfig, from_dict, preprocess_spec
from lrcn.train.loop import train_one_epoch
from lrcn.train.plots import confusion_matrix, plot_confusion, plot_curves
from lrcn.train.report import write_run_report

CONFIG_VERSION = 1


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run. str() is the line vc-train prints: what last.pt holds and how to resume.

    The epoch in progress is discarded: last.pt is the last completed epoch, so a resume
    replays the same per-epoch seeds and stays exact.
    """


def pick_device(name: str) -> torch.device:
    if name == "cuda" and not torch.cuda.is_available():
        raise LrcnError("--device cuda: no CUDA device is available to PyTorch here")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def default_out(model: str) -> Path:
    return RUNS_DIR / f"{model}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), console=console, transient=False)


def _loader(ds, batch_size: int, shuffle: bool, workers: int, seed: int, ranks: distributed.Ranks | None = None):
    g = torch.Generator()
    g.manual_seed(seed)
    sampler = None
    if shuffle and ranks is not None and ranks.enabled:  # each rank takes its share of one process's order
        sampler = distributed.ShardSampler(distributed.one_process_order(len(ds), seed), ranks)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=shuffle and sampler is None,
                                       sampler=sampler, num_workers=workers, generator=g, persistent_workers=False)


def prepare_data(model_cfg: ModelConfig, data_cfg: DataConfig, seed: int, console: Console,
                 ranks: distributed.Ranks = distributed.Ranks()):
    """Splits, decoded-clip caches and skipped files. Returns a dict the run and tests use."""
    names, splits = D.make_splits(data_cfg, seed)
    num = D.frames_to_sample(data_cfg)
    sizes = {k: dense_frames(num, data_cfg.augment) if k == "train" else num for k in splits}
    total = sum(len(ranks.shard(v)) for v in splits.values())  # this rank's share
    with _progress(console) as prog:
        task = prog.add_task("decode clips", total=total, stats="")
        cached, skipped = shared_cache.cache_splits(splits, sizes, data_cfg, ranks, progress=lambda: prog.advance(task))
    for s in skipped:
        console.print(f"[yellow]skipped[/] {s['reason']}")
    if not cached["train"]:
        raise D.DatasetError(f"{data_cfg.root}: no training clip could be decoded")
    return {"names": names, "cached": cached, "skipped": skipped, "num": num,
            "sample_fps": D.median_sampled_fps(cached["train"])}


def _datasets(model, prepared, spec, data_cfg, train_cfg, device, console, ranks=distributed.Ranks()):
    cached = prepared["cached"]
    use_features = family_spec(model.cfg.name).frozen_backbone and train_cfg.feature_cache
    if use_features and data_cfg.augment:
        console.print("[yellow]note[/] augmentation changes every epoch's input: the feature cache is off")
        use_features = False
    if use_features:
        out = {}
        with _progress(console) as prog:
            task = prog.add_task("backbone features", total=sum(len(ranks.shard(v)) for v in cached.values()), stats="")
            for split, clips in cached.items():
                feats = shared_cache.features(model, clips, spec, data_cfg.cache_dir, device, ranks,
                                              lambda: prog.advance(task))
                out[split] = D.FeatureDataset(feats, [c.sample.label for c in clips])
        return out, True
    aug = Augment(data_cfg.augment, prepared["num"]) if data_cfg.augment else None
    return {
        "train": D.ClipDataset(cached["train"], spec, aug, train_cfg.seed),
        "val": D.ClipDataset(cached["val"], spec),
        "test": D.ClipDataset(cached["test"], spec),
    }, False


def split_warnings(sizes: dict[str, int], *, group_split: bool = True, skipped: int = 0) -> list[str]:
    """One line per empty val/test split: the run still trains, but its numbers mean less.
    The reason is named only where it is known: the group-aware split and no unreadable files."""
    why = ("the group-aware split gives a class's clips to val and test only when it has 3 or more groups "
           "(v_<Class>_gNN_cMM; a file without that pattern is a group of its own)")
    if not group_split or skipped:
        why = "see splits.json" + (" and skipped.json" if skipped else "")
    out = []
    if sizes.get("train") and not sizes.get("val"):
        out.append(f"no validation clips: the best checkpoint is chosen on training loss ({why})")
    if sizes.get("train") and not sizes.get("test"):
        out.append("no test clips: metrics.json will have no test accuracy" + ("" if out else f" ({why})"))
    return out


def run_config(model_cfg, data_cfg, train_cfg, names, spec, prepared) -> dict:
    return {
        "config_version": CONFIG_VERSION,
        "lrcn_version": lrcn.__version__,
        "model": asdict(model_cfg),
        "data": asdict(data_cfg),
        "train": asdict(train_cfg),
        "class_names": names,
        "preprocess": {**spec.to_dict(), "num_frames": data_cfg.num_frames, "sampled_frames": prepared["num"],
                       "sample_fps": prepared["sample_fps"]},
        "created": datetime.now().isoformat(timespec="seconds"),
    }


def train(model_cfg: ModelConfig, data_cfg: DataConfig, train_cfg: TrainConfig, *, resume: str | None = None,
          epochs: int | None = None, console: Console | None = None) -> Path:
    """Train one model; returns the run folder.

    `resume` continues a run from its last.pt with the run's own saved configuration;
    `epochs` then raises or lowers its epoch count.
    """
    console = console or Console()
    state = None
    if resume:
        state = load_checkpoint(Path(resume) / "last.pt")
        saved = state["config"]
        model_cfg = ModelConfig.from_dict(saved["model"])
        data_cfg = from_dict(DataConfig, saved["data"])
        train_cfg = from_dict(TrainConfig, {**saved["train"], **({"epochs": epochs} if epochs else {})})
        out = Path(resume)
    else:
        out = Path(train_cfg.out) if train_cfg.out else default_out(model_cfg.name)
    ranks, device = distributed.setup(pick_device(train_cfg.device), train_cfg.dist_timeout_s)
    if not ranks.is_main:  # one voice: rank 0 prints progress, every rank still raises its errors
        console = Console(quiet=True)
    seed_everything(train_cfg.seed)

    model_cfg.img_size = data_cfg.img_size
    model_cfg.in_channels = channels_for(data_cfg.modality)
    try:
        prepared = prepare_data(model_cfg, data_cfg, train_cfg.seed, console, ranks)
    except KeyboardInterrupt:
        raise TrainingInterrupted("interrupted while decoding clips: no run folder was written "
                                  "(the clips decoded so far stay cached)") from None
    names = prepared["names"]
    model_cfg.num_classes = len(names)
    spec = preprocess_spec(model_cfg, data_cfg)
    model = build_model(model_cfg).to(device)
    config = run_config(model_cfg, data_cfg, train_cfg, names, spec, prepared)

    if ranks.is_main:  # rank 0 alone writes the run folder
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out)
        write_json(out / "config.json", config)
        write_json(out / "skipped.json", prepared["skipped"])
        write_json(out / "splits.json", {k: [{"path": c.sample.path, "label": c.sample.label} for c in v]
                                         for k, v in prepared["cached"].items()})
    console.print(f"run folder [bold]{out}[/]  device {device}  classes {len(names)}  "
                  f"train/val/test {', '.join(str(len(prepared['cached'][k])) for k in ('train', 'val', 'test'))}")
    for line in split_warnings({k: len(v) for k, v in prepared["cached"].items()},
                               group_split=not data_cfg.split_dir, skipped=len(prepared["skipped"])):
        console.print(f"[yellow]warning:[/] {line}")

    datasets, frozen_inputs = _datasets(model, prepared, spec, data_cfg, train_cfg, device, console, ranks)
    net, net_frozen = distributed.wrap(model, ranks, device, frozen_inputs)  # `model` stays the unwrapped one
    params = [p for p in model.parameters() if p.requires_grad]
    opt_cls = torch.optim.AdamW if train_cfg.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(params, lr=train_cfg.lr, weight_decay=train_cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
    history, start, best_val, since_best, train_seconds = [], 1, math.inf, 0, 0.0
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history, start = state["history"], state["epoch"] + 1
        best_val, since_best = state["best_val_loss"], state["epochs_since_best"]
        train_seconds = state.get("train_seconds", 0.0)
        console.print(f"resuming {out} after epoch {state['epoch']}")

    def checkpoint(epoch: int) -> dict:
        return {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "epoch": epoch, "config": config, "history": history, "best_val_loss": best_val,
                "epochs_since_best": since_best, "train_seconds": train_seconds}

    has_val = len(datasets["val"]) > 0
    select = "val" if has_val else "train"
    saved = state["epoch"] if state is not None else 0  # the epoch last.pt holds
    try:
        for epoch in range(start, train_cfg.epochs + 1):
            if train_cfg.patience and since_best >= train_cfg.patience:
                console.print(f"early stop: no better {select} loss for {since_best} epochs")
                break
            t0 = time.perf_counter()
            epoch_seed = train_cfg.seed * 100_003 + epoch  # per-epoch seeds make --resume exact
            torch.manual_seed(epoch_seed)
            if hasattr(datasets["train"], "epoch"):
                datasets["train"].epoch = epoch
            loader = _loader(datasets["train"], train_cfg.batch_size, True, train_cfg.workers, epoch_seed, ranks)
            steps = min(len(loader), train_cfg.steps_per_epoch or len(loader))
            with _progress(console) as prog:
                task = prog.add_task(f"epoch {epoch}/{train_cfg.epochs}", total=steps, stats="")

                def on_step(loss, acc, clips_per_s, n):
                    prog.update(task, advance=1, stats=f"loss {loss:.3f} acc {acc:.3f} {clips_per_s:.1f} clips/s")

                tr = train_one_epoch(net, loader, optimizer, device, frozen_inputs=net_frozen,
                                     max_steps=train_cfg.steps_per_epoch, on_step=on_step)
            tr = distributed.reduce_epoch(ranks, tr, device)
            ev = distributed.evaluate_split(
                model, datasets[select], lambda ds: _loader(ds, train_cfg.batch_size, False, train_cfg.workers, 0),
                ranks, device, frozen_inputs=frozen_inputs)
            scheduler.step(ev["loss"])
            seconds = time.perf_counter() - t0
            train_seconds += seconds
            row = {"epoch": epoch, "train_loss": tr["loss"], "train_accuracy": tr["accuracy"],
                   "val_loss": ev["loss"], "val_accuracy": ev["accuracy"], "lr": optimizer.param_groups[0]["lr"],
                   "seconds": seconds, "clips_per_s": tr["clips_per_s"]}
            history.append(row)
            improved = ev["loss"] < best_val
            if improved:
                best_val, since_best = ev["loss"], 0
            else:
                since_best += 1
            if ranks.is_main:
                ck = checkpoint(epoch)
                if improved:
                    save_checkpoint(out / "best.pt", ck)
                save_checkpoint(out / "last.pt", ck)
                write_json(out / "history.json", history)
            saved = epoch
            console.print(f"epoch {epoch}: train loss {tr['loss']:.3f} acc {tr['accuracy']:.3f} | "
                          f"{select} loss {ev['loss']:.3f} acc {ev['accuracy']:.3f} | {seconds:.1f}s"
                          + ("  [green]best[/]" if improved else ""))
        return finish(out, model, datasets, names, history, train_seconds, prepared, frozen_inputs, device,
                      train_cfg.batch_size, console, ranks)
    except KeyboardInterrupt:
        if saved:
            msg = (f"interrupted: {out / 'last.pt'} holds epoch {saved} (an unfinished epoch is discarded); "
                   f"continue with vc-train --resume {out}")
        else:
            msg = f"interrupted before epoch 1 finished: {out} holds no checkpoint to resume"
        raise TrainingInterrupted(msg) from None


def finish(out, model, datasets, names, history, train_seconds, prepared, frozen_inputs, device, batch_size,
           console, ranks: distributed.Ranks = distributed.Ranks()) -> Path:
    """Test the best checkpoint and write metrics, per-class accuracy and plots."""
    best = distributed.on_main(ranks, lambda: load_checkpoint(out / "best.pt") if (out / "best.pt").is_file()
                               else load_checkpoint(out / "last.pt"))
    model.load_state_dict(best["model"])
    results = {k: distributed.evaluate_split(model, datasets[k], lambda ds: _loader(ds, batch_size, False, 0, 0),
                                             ranks, device, frozen_inputs=frozen_inputs)
               for k in ("train", "val", "test")}
    if not ranks.is_main:
        return out
    test = results["test"]
    k = len(names)
    matrix = confusion_matrix(test["labels"], test["preds"], k)
    per_class = {n: (float(matrix[i, i] / matrix[i].sum()) if matrix[i].sum() else None) for i, n in enumerate(names)}

    def num(v):
        return None if v is None or (isinstance(v, float) and math.isnan(v)) else v

    metrics = {
        "test_accuracy": num(test["accuracy"]), "test_loss": num(test["loss"]),
        "val_accuracy": num(results["val"]["accuracy"]), "val_loss": num(results["val"]["loss"]),
        "train_accuracy": num(results["train"]["accuracy"]), "train_loss": num(results["train"]["loss"]),
        "best_epoch": best["epoch"], "epochs": len(history), "train_seconds": round(train_seconds, 2),
        "num_train": len(datasets["train"]), "num_val": len(datasets["val"]), "num_test": len(datasets["test"]),
        "skipped_files": len(prepared["skipped"]), "sample_fps": prepared["sample_fps"],
    }
    write_json(out / "metrics.json", metrics)
    write_json(out / "per_class.json", {"accuracy": per_class, "confusion": matrix.tolist(), "class_names": names})
    write_json(out / "history.json", history)
    if history:
        plot_curves(history, out / "curves.png")
    plot_confusion(matrix, names, out / "confusion.png")
    write_run_report(out)
    console.print(f"test accuracy {metrics['test_accuracy']}  (best epoch {best['epoch']}, "
                  f"{metrics['num_test']} test clips, {train_seconds:.0f}s training)  -> {out}")
    return out
