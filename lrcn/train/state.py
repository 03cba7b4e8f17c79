"""The typed state one training run passes between its named steps (lrcn.train.run, lrcn.train.finish)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from lrcn.models.config import ModelConfig
from lrcn.runtime.preprocess import PreprocessSpec
from lrcn.train.config import DataConfig, TrainConfig
from lrcn.train.data import CachedClip
from lrcn.train.distributed import Ranks

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Configs:
    """The run's own configuration: the caller's, or a resumed run's saved one, with the fields
    that follow from the data filled in (image size, input channels, classes). Never the caller's
    objects: a caller's config is not changed by training with it."""

    model: ModelConfig
    data: DataConfig
    train: TrainConfig


@dataclass
class Prepared:
    """The data of a run, decoded: class names, cached clips per split, the files skipped."""

    names: list[str]
    cached: dict[str, list[CachedClip]]
    skipped: list[dict]
    sampled_frames: int
    """Frames each val/test clip is decoded with (T, or T + 1 for difference input)."""
    sample_fps: float | None
    """Median rate the training clips were sampled at (the runtime samples live video at it)."""

    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in self.cached.items()}


@dataclass
class TrainState:
    """What moves from epoch to epoch and what last.pt keeps of it, so that a resume is exact."""

    epoch: int = 0
    """The last epoch completed and saved (0: none yet)."""
    history: list[dict] = field(default_factory=list)
    best_val_loss: float = math.inf
    epochs_since_best: int = 0
    train_seconds: float = 0.0
    best_score: tuple | None = None
    """best.pt's score under the run's `select` (lrcn.train.levers.score); higher is better."""

    @classmethod
    def from_checkpoint(cls, ckpt: dict) -> TrainState:
        best = ckpt["best_val_loss"]
        score = ckpt.get("best_score")  # absent in checkpoints from before `select`: they kept the lowest loss
        return cls(
            epoch=ckpt["epoch"],
            history=ckpt["history"],
            best_val_loss=best,
            epochs_since_best=ckpt["epochs_since_best"],
            train_seconds=ckpt.get("train_seconds", 0.0),
            best_score=tuple(score) if score is not None else (-best,),
        )

    def checkpoint_fields(self, epoch: int) -> dict:
        return {
            "epoch": epoch,
            "history": self.history,
            "best_val_loss": self.best_val_loss,
            "epochs_since_best": self.epochs_since_best,
            "train_seconds": self.train_seconds,
            "best_score": self.best_score,
        }


@dataclass
class Session:
    """Everything the epochs and the final test share, settled before the first epoch."""

    out: Path
    cfg: Configs
    config: dict
    """config.json: what the checkpoints carry as their "config"."""
    spec: PreprocessSpec
    prepared: Prepared
    ranks: Ranks
    device: Any
    console: Console
    model: Any
    """The unwrapped model: checkpoints are taken from it, the final test runs it."""
    net: Any
    """What trains: the model, or its DistributedDataParallel wrapper under torchrun."""
    net_frozen: bool
    """The training loop must call forward_frozen itself (False under the wrapper, which does it)."""
    frozen_inputs: bool
    """The datasets hold cached frozen features instead of clips."""
    datasets: dict[str, Any]
    optimizer: Any
    scheduler: Any
    average: Any = None
    """levers.WeightAverage when TrainConfig.ema is on: what is evaluated, kept and tested."""

    @property
    def judged(self) -> Any:
        """The model that validation, the checkpoints' weights and the test use."""
        return self.average.model if self.average is not None else self.model
