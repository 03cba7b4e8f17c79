"""Typed configuration for data and training; `asdict()` goes into config.json and checkpoints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import ClassVar

from lrcn.core.checks import at_least, from_dict, img_size_problems, one_of, refuse
from lrcn.core.paths import CACHE_DIR
from lrcn.models.config import ModelConfig
from lrcn.models.specs import family_spec
from lrcn.runtime.preprocess import MODALITIES, NORMALISATION, PreprocessSpec
from lrcn.runtime.rect import WHOLE, Rect, as_rect, rect_problem
from lrcn.runtime.roi import FIRST_GEOMETRY, ZOOMS, ZoomGeometry

AUGMENTATIONS = ("flip", "crop", "color", "temporal")
DEVICES = ("auto", "cpu", "cuda")
OPTIMIZERS = ("adamw", "adam")
SCHEDULES = ("plateau", "cosine")
SELECTS = ("loss", "accuracy", "last")


@dataclass
class DataConfig:
    """Where the clips come from and how they are sampled."""

    root: str = "artifacts/data/synth"
    """UCF101-style folder: root/<class>/<video>."""
    num_frames: int = 15
    """T: frames per clip, spread evenly over each video."""
    img_size: int = 128
    modality: str = "diff"
    """rgb, diff, adiff, flow, rgb+diff or rgb+flow (see lrcn.runtime.preprocess). diff by default: from scratch, a small CNN
    learns motion from frame differences far faster than from RGB frames (measured in README)."""
    zoom: str = "none"
    """"motion": cut each clip to where it moves before resizing (lrcn.runtime.roi), for people small in a wide view."""
    zoom_geometry: dict = field(default_factory=lambda: ZoomGeometry().to_dict())
    """The zoom's box and decode size (lrcn.runtime.roi.ZoomGeometry's fields); the model records it."""
    region: list[float] = field(default_factory=lambda: list(WHOLE))
    """x0, y0, x1, y1 in fractions of the frame: every frame is cut to it first, in training and
    wherever the model runs (lrcn.runtime.rect; the model records it). The whole frame by default."""
    classes: list[str] | None = None
    """Use only these class folders (sorted); None uses all."""
    num_classes: int | None = None
    """Use the first N class folders in sorted order."""
    split_dir: str | None = None
    """UCF101 split files (classInd.txt, trainlist0K.txt, testlist0K.txt); None: group-aware split."""
    split: int = 1
    """Which official split (K in trainlist0K.txt)."""
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    """Group-aware split fractions (per class, by group); 0 leaves that split empty."""
    test_root: str | None = None
    """A separate test folder (same class folders): all of `root` then goes to train and val."""
    folds: int | None = None
    """Group k-fold: K folds over the groups (lrcn.train.folds); `fold` is this run's test fold."""
    fold: int | None = None
    clips: list[str] | None = None
    """Use only these video files (paths as found under root); None uses every clip. A search nested
    in an outer fold (lrcn.train.search) gives its inner folds the outer fold's training clips."""
    augment: list[str] = field(default_factory=list)
    """Training-only augmentations, any of flip, crop, color, temporal. Off by default."""
    cache_dir: str = str(CACHE_DIR)
    decode_timeout_s: float = 60.0

    LEGACY_DEFAULTS: ClassVar[dict] = {"zoom_geometry": FIRST_GEOMETRY.to_dict()}
    """A run saved before the geometry was recorded cut its clips with the first one (`--resume`)."""

    @property
    def zoomed(self) -> ZoomGeometry | None:
        """The geometry clips are cut with; None for whole frames."""
        return ZoomGeometry.from_dict(self.zoom_geometry) if self.zoom != "none" else None

    @property
    def cut(self) -> Rect:
        """The region every frame is cut to, as a checked tuple (`region` is a list, as JSON saves it)."""
        return as_rect(self.region)

    def __post_init__(self) -> None:
        problems = (
            at_least(self, num_frames=1, num_classes=2, folds=2)
            + img_size_problems(self)
            + one_of(self, modality=MODALITIES, zoom=ZOOMS)
        )
        try:
            ZoomGeometry.from_dict(self.zoom_geometry)
        except ValueError as e:
            problems.append(str(e))
        problem = rect_problem(self.region)
        if problem:
            problems.append(f"region {problem}")
        if not (
            0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1 and self.val_fraction + self.test_fraction < 1
        ):
            problems.append(
                f"val_fraction and test_fraction must be in [0, 1) with a sum below 1, "
                f"got {self.val_fraction} and {self.test_fraction}"
            )
        if self.fold is not None and (self.folds is None or not 0 <= self.fold < self.folds):
            problems.append(f"fold {self.fold} needs 0 <= fold < folds ({self.folds})")
        if self.folds and (self.split_dir or self.test_root):
            problems.append("folds makes its own test folds: drop split_dir / test_root")
        if self.split_dir and self.test_root:
            problems.append("split_dir and test_root both name the test clips: give one")
        bad = [a for a in self.augment if a not in AUGMENTATIONS]
        if bad:
            problems.append(f"augment takes {', '.join(AUGMENTATIONS)}; got {', '.join(bad)}")
        refuse(problems)


@dataclass
class TrainConfig:
    """The optimisation loop."""

    epochs: int = 15
    batch_size: int = 8
    lr: float = 1e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    steps_per_epoch: int | None = None
    """Cap on optimizer steps per epoch; None runs the whole training split."""
    workers: int = 0
    """DataLoader worker processes (clips come from the on-disk cache, so 0 is often fastest)."""
    seed: int = 0
    device: str = "auto"
    patience: int | None = None
    """Stop after this many epochs without a better validation loss; None never stops early."""
    label_smoothing: float = 0.0
    schedule: str = "plateau"
    """plateau: halve the lr when val loss stalls; cosine: linear warm-up then cosine decay to 0."""
    warmup_epochs: int = 0
    mixup: float = 0.0
    """Mix each training batch with a shuffled copy of itself, clip by clip, by a weight drawn from
    Beta(mixup, mixup) per batch, and the loss by the same weight (0: off; 0.2 to 0.4 is usual)."""
    step_loss: float = 0.0
    """Weight of a loss on the classifier read at every LSTM step (each labelled with the clip's class),
    against 1 - step_loss on the last step, which is what the model predicts (0: off). Needs a head
    with a step form (pool last, unidirectional); the exported model is the same either way."""
    ema: float = 0.0
    """Decay of an exponential moving average of the weights, per optimizer step (0: off). With it
    on, validation, best.pt, the test and export use the averaged weights."""
    select: str = "loss"
    """Which epoch best.pt keeps: loss (lowest val loss), accuracy (highest val accuracy, ties by
    loss) or last (the final epoch; val is then only watched)."""
    recipe: str = "default"
    """The preset the settings came from (lrcn.train.recipe); recorded, not applied here."""
    recipe_why: str = ""
    """Why that preset (auto: the clip count), printed at the start of the run."""
    feature_cache: bool = True
    """Frozen backbones: compute backbone features once per clip and train the head on them."""
    out: str | None = None
    dist_timeout_s: float = 1800.0
    """Under torchrun: how long a rank waits in a collective for its peers before the job fails."""

    def __post_init__(self) -> None:
        problems = at_least(self, epochs=1, batch_size=1, steps_per_epoch=1, workers=0, patience=1)
        problems += one_of(self, optimizer=OPTIMIZERS, device=DEVICES)
        if not self.lr > 0:
            problems.append(f"lr must be > 0, got {self.lr}")
        if not 0 <= self.ema < 1:
            problems.append(f"ema must be in [0, 1), got {self.ema}")
        if not 0 <= self.mixup <= 10:
            problems.append(f"mixup must be in [0, 10] (a Beta distribution's alpha; 0 is off), got {self.mixup}")
        if not 0 <= self.step_loss <= 1:
            problems.append(f"step_loss must be in [0, 1], got {self.step_loss}")
        if not 0 <= self.label_smoothing < 1:
            problems.append(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        problems += one_of(self, schedule=SCHEDULES, select=SELECTS) + at_least(self, warmup_epochs=0)
        if not self.dist_timeout_s > 0:
            problems.append(f"dist_timeout_s must be > 0 seconds, got {self.dist_timeout_s}")
        refuse(problems)


def preprocess_spec(model_cfg: ModelConfig, data_cfg: DataConfig) -> PreprocessSpec:
    """The input statistics the family asks for (its spec's normalisation), at the data's size and modality."""
    mean, std = NORMALISATION[family_spec(model_cfg.name).normalisation]
    return PreprocessSpec(
        img_size=data_cfg.img_size,
        mean=mean,
        std=std,
        modality=data_cfg.modality,
        zoom=data_cfg.zoom,
        zoom_geometry=ZoomGeometry.from_dict(data_cfg.zoom_geometry),
        region=data_cfg.cut,
    )


__all__ = [
    "AUGMENTATIONS",
    "DEVICES",
    "OPTIMIZERS",
    "SCHEDULES",
    "SELECTS",
    "DataConfig",
    "TrainConfig",
    "asdict",
    "from_dict",
    "preprocess_spec",
]
