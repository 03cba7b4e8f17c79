"""A training run: data -> caches -> model -> epochs -> checkpoints -> test -> the run folder.

The run folder is a contract read by vc-export, vc-run and vc-report:
config.json, splits.json, best.pt, last.pt, history.json, metrics.json, per_class.json,
skipped.json, curves.png, confusion.png, report.html.

`train()` is a short list of named steps over typed state (lrcn.train.state): settle the
configuration, decode the data, build the session (model, datasets, optimizer), run the epochs,
then test (lrcn.train.finish). Under torchrun the same steps run on every rank; the few places
where ranks meet are calls into lrcn.train.distributed, each a no-op in a single process.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import lrcn
from lrcn.core.errors import LrcnError
from lrcn.core.paths import RUNS_DIR, fresh_folder
from lrcn.models.checkpoint import check_shapes, load_checkpoint, saved_model_config
from lrcn.models.config import ModelConfig
from lrcn.models.registry import build_model
from lrcn.models.specs import family_spec
from lrcn.runtime.console import safe_markup as safe
from lrcn.runtime.preprocess import channels_for
from lrcn.train import data as D
from lrcn.train import distributed, shared_cache
from lrcn.train.augment import Augment, dense_frames
from lrcn.train.checkpoint import remove_stale_temps, save_checkpoint, write_json
from lrcn.train.config import DataConfig, TrainConfig, from_dict, preprocess_spec
from lrcn.train.distributed import Ranks
from lrcn.train.finish import evaluate, finish, loader
from lrcn.train.levers import WeightAverage, make_scheduler, score, step_scheduler
from lrcn.train.loop import train_one_epoch
from lrcn.train.state import SPLITS, Configs, Prepared, Session, TrainState

CONFIG_VERSION = 1


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during a run. str() is the line vc-train prints: what last.pt holds and how to resume.

    The epoch in progress is discarded: last.pt is the last completed epoch, so a resume
    replays the same per-epoch seeds and stays exact.
    """


@contextmanager
def interrupts_deferred():
    """SIGINT during the block is held and raised as KeyboardInterrupt when it ends (main thread
    only; elsewhere the block runs as is). Without it a Ctrl-C between writing last.pt and
    recording its epoch made vc-train name the epoch before the one on disk."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if held:
            raise KeyboardInterrupt


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
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def prepare_data(data_cfg: DataConfig, seed: int, console: Console, ranks: Ranks) -> Prepared:
    """Splits, decoded-clip caches (this rank's share decoded here) and skipped files."""
    names, splits = D.make_splits(data_cfg, seed)
    num = D.frames_to_sample(data_cfg)
    sizes = {k: dense_frames(num, data_cfg.augment) if k == "train" else num for k in splits}
    total = sum(len(ranks.shard(v)) for v in splits.values())  # this rank's share
    with _progress(console) as prog:
        task = prog.add_task("decode clips", total=total, stats="")
        cached, skipped = shared_cache.cache_splits(splits, sizes, data_cfg, ranks, progress=lambda: prog.advance(task))
    for s in skipped:
        console.print(f"[yellow]skipped[/] {safe(s['reason'])}")
    if not cached["train"]:
        raise D.DatasetError(f"{data_cfg.root}: no training clip could be decoded")
    return Prepared(names, cached, skipped, num, D.median_sampled_fps(cached["train"]))


def _datasets(model, prepared: Prepared, spec, cfg: Configs, device, console: Console, ranks: Ranks):
    """Per split: cached backbone features when the family has a frozen part (and nothing changes
    the input between epochs), else decoded clips. Returns (datasets, whether they are features)."""
    data_cfg, train_cfg = cfg.data, cfg.train
    use_features = family_spec(cfg.model.name).frozen_backbone and train_cfg.feature_cache
    if use_features and data_cfg.augment:
        console.print("[yellow]note[/] augmentation changes every epoch's input: the feature cache is off")
        use_features = False
    cached = prepared.cached
    if use_features:
        out = {}
        with _progress(console) as prog:
            task = prog.add_task("backbone features", total=sum(len(ranks.shard(v)) for v in cached.values()), stats="")
            for split, clips in cached.items():
                feats = shared_cache.features(
                    model, clips, spec, data_cfg.cache_dir, device, ranks, lambda: prog.advance(task)
                )
                out[split] = D.FeatureDataset(feats, [c.sample.label for c in clips])
        return out, True
    aug = Augment(data_cfg.augment, prepared.sampled_frames) if data_cfg.augment else None
    return {
        "train": D.ClipDataset(cached["train"], spec, aug, train_cfg.seed),
        "val": D.ClipDataset(cached["val"], spec),
        "test": D.ClipDataset(cached["test"], spec),
    }, False


def split_warnings(
    sizes: dict[str, int], *, group_split: bool = True, skipped: int = 0, select: str = "loss"
) -> list[str]:
    """One line per empty val/test split: the run still trains, but its numbers mean less.
    The reason is named only where it is known: the group-aware split and no unreadable files.
    With select "last" no validation clips is no loss (nothing is chosen on them): no line."""
    why = (
        "the group-aware split gives a class's clips to val and test only when it has 3 or more groups "
        "(v_<Class>_gNN_cMM; a file without that pattern is a group of its own)"
    )
    if not group_split or skipped:
        why = "see splits.json" + (" and skipped.json" if skipped else "")
    out = []
    if sizes.get("train") and not sizes.get("val") and select != "last":
        out.append(f"no validation clips: the best checkpoint is chosen on training loss ({why})")
    if sizes.get("train") and not sizes.get("test"):
        out.append("no test clips: metrics.json will have no test accuracy" + ("" if out else f" ({why})"))
    return out


def run_config(cfg: Configs, spec, prepared: Prepared) -> dict:
    return {
        "config_version": CONFIG_VERSION,
        "lrcn_version": lrcn.__version__,
        "model": asdict(cfg.model),
        "data": asdict(cfg.data),
        "train": asdict(cfg.train),
        "class_names": prepared.names,
        "preprocess": {
            **spec.to_dict(),
            "num_frames": cfg.data.num_frames,
            "sampled_frames": prepared.sampled_frames,
            "sample_fps": prepared.sample_fps,
        },
        "created": datetime.now().isoformat(timespec="seconds"),
    }


def _settle(
    model_cfg: ModelConfig, data_cfg: DataConfig, train_cfg: TrainConfig, resume: str | None, epochs: int | None
) -> tuple[Configs, Path, dict | None]:
    """The run's configs, its folder and (resuming) the last.pt it continues from."""
    if not resume:
        out = Path(train_cfg.out) if train_cfg.out else default_out(model_cfg.name)
        if (out / "config.json").exists() or (out / "last.pt").exists():  # never mix two runs in one folder
            raise LrcnError(
                f"{out}: holds another run already; pick a new --out, or continue it with vc-train --resume {out}"
            )
        ckpt = None
    else:
        ckpt = load_checkpoint(Path(resume) / "last.pt")
        saved = ckpt["config"]
        model_cfg = saved_model_config(ckpt, Path(resume) / "last.pt")
        data_cfg = from_dict(DataConfig, saved["data"])
        train_cfg = from_dict(TrainConfig, {**saved["train"], **({"epochs": epochs} if epochs else {})})
        out = Path(resume)
    model_cfg = replace(model_cfg, img_size=data_cfg.img_size, in_channels=channels_for(data_cfg.modality))
    if ckpt is not None:  # a crafted or mismatched config must not size the model (hidden_size 10**7)
        check_shapes(model_cfg, ckpt["model"], out / "last.pt")
    return Configs(model_cfg, replace(data_cfg), replace(train_cfg)), out, ckpt


def _resume_paths(out: Path, cfg: Configs) -> str:
    return (
        f"--resume takes from {safe(out / 'last.pt')}: data {safe(cfg.data.root)}, "
        f"cache {safe(cfg.data.cache_dir)}, split dir {safe(cfg.data.split_dir or 'none')}, "
        f"backbone weights {safe(cfg.model.backbone_weights or 'none')}"
    )


def _session(
    cfg: Configs, out: Path, prepared: Prepared, ranks: Ranks, device, console: Console, *, fresh_name: bool = False
) -> Session:
    """Build the model, its datasets and optimizer; rank 0 writes the run folder's first files.
    `fresh_name`: `out` is a default name, so two runs started in one second get distinct folders."""
    cfg = replace(cfg, model=replace(cfg.model, num_classes=len(prepared.names)))
    spec = preprocess_spec(cfg.model, cfg.data)
    model = build_model(cfg.model).to(device)
    config = run_config(cfg, spec, prepared)
    if ranks.is_main:  # rank 0 alone writes the run folder
        if fresh_name and not ranks.enabled:
            out = fresh_folder(out.parent, out.name)
        out.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(out)
        write_json(out / "config.json", config)
        write_json(out / "skipped.json", prepared.skipped)
        write_json(
            out / "splits.json",
            {k: [{"path": c.sample.path, "label": c.sample.label} for c in v] for k, v in prepared.cached.items()},
        )
    console.print(
        f"run folder [bold]{safe(out)}[/]  device {device}  classes {len(prepared.names)}  "
        f"train/val/test {', '.join(str(len(prepared.cached[k])) for k in SPLITS)}"
    )
    if cfg.train.recipe_why:
        console.print(cfg.train.recipe_why)
    sizes, split_dir = prepared.sizes(), cfg.data.split_dir
    for line in split_warnings(
        sizes, group_split=not split_dir, skipped=len(prepared.skipped), select=cfg.train.select
    ):
        console.print(f"[yellow]warning:[/] {safe(line)}")
    datasets, frozen_inputs = _datasets(model, prepared, spec, cfg, device, console, ranks)
    # `model` stays the unwrapped one
    net, net_frozen = distributed.wrap(model, ranks, device, frozen_inputs, cfg.train.step_loss > 0)
    params = [p for p in model.parameters() if p.requires_grad]
    opt_cls = torch.optim.AdamW if cfg.train.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(params, lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    scheduler = make_scheduler(optimizer, cfg.train)
    return Session(
        out,
        cfg,
        config,
        spec,
        prepared,
        ranks,
        device,
        console,
        model,
        net,
        net_frozen,
        frozen_inputs,
        datasets,
        optimizer,
        scheduler,
        WeightAverage(model, cfg.train.ema) if cfg.train.ema > 0 else None,
    )


def _resume(s: Session, ckpt: dict | None) -> TrainState:
    if ckpt is None:
        return TrainState()
    check_shapes(s.cfg.model, ckpt["model"], s.out / "last.pt")  # the data may now give another class count
    if s.average is not None and "trained_model" in ckpt:
        s.model.load_state_dict(ckpt["trained_model"])
        s.average.model.load_state_dict(ckpt["model"])
    else:
        s.model.load_state_dict(ckpt["model"])
        if s.average is not None:  # a checkpoint without an average: start it from these weights
            s.average.model.load_state_dict(ckpt["model"])
    s.optimizer.load_state_dict(ckpt["optimizer"])
    s.scheduler.load_state_dict(ckpt["scheduler"])
    s.console.print(f"resuming {safe(s.out)} after epoch {ckpt['epoch']}")
    return TrainState.from_checkpoint(ckpt)


def _epoch(s: Session, state: TrainState, epoch: int, select: str) -> None:
    """One epoch: train, evaluate on `select`, step the scheduler, record and save (rank 0)."""
    tc = s.cfg.train
    t0 = time.perf_counter()
    epoch_seed = tc.seed * 100_003 + epoch  # per-epoch seeds make --resume exact
    torch.manual_seed(epoch_seed)
    if hasattr(s.datasets["train"], "epoch"):
        s.datasets["train"].epoch = epoch
    batches = loader(s.datasets["train"], tc.batch_size, True, tc.workers, epoch_seed, s.ranks)
    steps = min(len(batches), tc.steps_per_epoch or len(batches))
    with _progress(s.console) as prog:
        task = prog.add_task(f"epoch {epoch}/{tc.epochs}", total=steps, stats="")

        def on_step(loss, acc, clips_per_s, n):
            prog.update(task, advance=1, stats=f"loss {loss:.3f} acc {acc:.3f} {clips_per_s:.1f} clips/s")

        tr = train_one_epoch(
            s.net,
            batches,
            s.optimizer,
            s.device,
            frozen_inputs=s.net_frozen,
            max_steps=tc.steps_per_epoch,
            on_step=on_step,
            label_smoothing=tc.label_smoothing,
            mixup=tc.mixup,
            step_loss=tc.step_loss,
            after_step=s.average.update if s.average is not None else None,
        )
    tr = distributed.reduce_epoch(s.ranks, tr, s.device)
    ev = evaluate(s, select, tc.workers)
    step_scheduler(s.scheduler, ev)
    seconds = time.perf_counter() - t0
    state.train_seconds += seconds
    state.history.append(
        {
            "epoch": epoch,
            "train_loss": tr["loss"],
            "train_accuracy": tr["accuracy"],
            "val_loss": ev["loss"],
            "val_accuracy": ev["accuracy"],
            "lr": s.optimizer.param_groups[0]["lr"],
            "seconds": seconds,
            "clips_per_s": tr["clips_per_s"],
        }
    )
    now = score(ev, tc.select, epoch)
    improved = state.best_score is None or now > state.best_score
    if improved:
        state.best_val_loss, state.best_score, state.epochs_since_best = ev["loss"], now, 0
    else:
        state.epochs_since_best += 1
    with interrupts_deferred():  # Ctrl-C waits: the epoch on disk and the one vc-train names always agree
        if s.ranks.is_main:
            ck = {
                "model": s.judged.state_dict(),  # the averaged weights when ema is on: what export takes
                **({"trained_model": s.model.state_dict()} if s.average is not None else {}),
                "optimizer": s.optimizer.state_dict(),
                "scheduler": s.scheduler.state_dict(),
                "config": s.config,
                **state.checkpoint_fields(epoch),
            }
            # at every instant on disk: a last.pt has a best.pt beside it, and best.pt is never the later epoch
            order = ("last.pt", "best.pt") if (s.out / "last.pt").exists() else ("best.pt", "last.pt")
            for name in order:
                if improved or name == "last.pt":
                    save_checkpoint(s.out / name, ck)
            write_json(s.out / "history.json", state.history)
        state.epoch = epoch  # saved: an interrupt from here on resumes after it
    running, judged = ("train running", "train end-of-epoch") if select == "train" else ("train", select)
    s.console.print(
        f"epoch {epoch}: {running} loss {tr['loss']:.3f} acc {tr['accuracy']:.3f} | "
        f"{judged} loss {ev['loss']:.3f} acc {ev['accuracy']:.3f} | {seconds:.1f}s"
        + ("  [green]best[/]" if improved else "")
    )


def _fit(s: Session, state: TrainState, after_epoch=None) -> None:
    """The epochs after state.epoch, up to the configured count or early stopping.
    `after_epoch(epoch)` runs after each saved epoch; an exception from it ends the run there."""
    select = "val" if len(s.datasets["val"]) > 0 else "train"
    if select == "train" and state.epoch < s.cfg.train.epochs:
        s.console.print(
            "no validation split: 'train running' is the mean over the epoch's steps (train mode, weights "
            "moving); 'train end-of-epoch' scores the same training clips after it (eval mode, the kept weights)"
        )
    for epoch in range(state.epoch + 1, s.cfg.train.epochs + 1):
        if s.cfg.train.patience and state.epochs_since_best >= s.cfg.train.patience:
            s.console.print(f"early stop: no better {select} loss for {state.epochs_since_best} epochs")
            break
        _epoch(s, state, epoch, select)
        if after_epoch is not None:
            after_epoch(epoch)


def train(
    model_cfg: ModelConfig,
    data_cfg: DataConfig,
    train_cfg: TrainConfig,
    *,
    resume: str | None = None,
    epochs: int | None = None,
    console: Console | None = None,
    after_epoch=None,
) -> Path:
    """Train one model; returns the run folder. The configs given are read, never changed.

    `resume` continues a run from its last.pt with the run's own saved configuration;
    `epochs` then raises or lowers its epoch count. `after_epoch(epoch)` is called after each
    epoch is saved (the configuration search stops a trial over its time there by raising).
    """
    console = console or Console()
    cfg, out, ckpt = _settle(model_cfg, data_cfg, train_cfg, resume, epochs)
    ranks, device = distributed.setup(pick_device(cfg.train.device), cfg.train.dist_timeout_s)
    if not ranks.is_main:  # one voice: rank 0 prints progress, every rank still raises its errors
        console = Console(quiet=True)
    seed_everything(cfg.train.seed)
    if ckpt is not None:  # these paths come from a file that may have travelled: say which ones are used
        console.print(_resume_paths(out, cfg))
    try:
        prepared = prepare_data(cfg.data, cfg.train.seed, console, ranks)
    except KeyboardInterrupt:
        raise TrainingInterrupted(
            "interrupted while decoding clips: no run folder was written (the clips decoded so far stay cached)"
        ) from None
    s = _session(cfg, out, prepared, ranks, device, console, fresh_name=not (resume or cfg.train.out))
    state = _resume(s, ckpt)
    try:
        _fit(s, state, after_epoch)
        return finish(s, state)
    except KeyboardInterrupt:
        out = s.out  # the folder actually written (a default name may have become name-2)
        if state.epoch:
            msg = (
                f"interrupted: {out / 'last.pt'} holds epoch {state.epoch} (an unfinished epoch is discarded); "
                f"continue with vc-train --resume {out}"
            )
        else:
            msg = f"interrupted before epoch 1 finished: {out} holds no checkpoint to resume"
        raise TrainingInterrupted(msg) from None
