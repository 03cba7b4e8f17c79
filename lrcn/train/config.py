"""Typed configuration for data and training; `asdict()` goes into config.json and checkpoints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from lrcn.core.paths import CACHE_DIR
from lrcn.models.config import ModelConfig
from lrcn.models.specs import family_spec
from lrcn.runtime.preprocess import MODALITIES, NORMALISATION, PreprocessSpec

AUGMENTATIONS = ("flip", "crop", "color", "temporal")
DEVICES = ("auto", "cpu", "cuda")
OPTIMIZERS = ("adamw", "adam")


@dataclass
class DataConfig:
    """Where the clips come from and how they are sampled."""

    root: str = "artifacts/data/synth"
    """UCF101-style folder: root/<class>/<video>."""
    num_frames: int = 15
    """T: frames per clip, spread evenly over each video."""
    img_size: int = 128
    modality: str = "diff"
    """rgb, diff or rgb+diff (see lrcn.runtime.preprocess). diff by default: from scratch, a small CNN
    learns motion from frame differences far faster than from RGB frames (measured in README)."""
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
    augment: list[str] = field(default_factory=list)
    """Training-only augmentations, any of flip, crop, color, temporal. Off by default."""
    cache_dir: str = str(CACHE_DIR)
    decode_timeout_s: float = 60.0

    def __post_init__(self) -> None:
        problems = []
        if self.num_frames < 1:
            problems.append(f"--frames must be >= 1, got {self.num_frames}")
        if self.img_size < 16:
            problems.append(f"--img-size must be >= 16, got {self.img_size}")
        if self.modality not in MODALITIES:
            problems.append(f"--input must be one of {', '.join(MODALITIES)}, got {self.modality!r}")
        if self.num_classes is not None and self.num_classes < 2:
            problems.append(f"--num-classes must be >= 2, got {self.num_classes}")
        if not (0 < self.val_fraction < 0.5 and 0 < self.test_fraction < 0.5):
            problems.append("val and test fractions must be in (0, 0.5)")
        bad = [a for a in self.augment if a not in AUGMENTATIONS]
        if bad:
            problems.append(f"--augment takes {', '.join(AUGMENTATIONS)}; got {', '.join(bad)}")
        if problems:
            raise ValueError("; ".join(problems))


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
    feature_cache: bool = True
    """Frozen backbones: compute backbone features once per clip and train the head on them."""
    out: str | None = None
    dist_timeout_s: float = 1800.0
    """Under torchrun: how long a rank waits in a collective for its peers before the job fails."""

    def __post_init__(self) -> None:
        problems = []
        if self.epochs < 1:
            problems.append(f"--epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            problems.append(f"--batch-size must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            problems.append(f"--lr must be > 0, got {self.lr}")
        if self.optimizer not in OPTIMIZERS:
            problems.append(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            problems.append(f"--steps-per-epoch must be >= 1, got {self.steps_per_epoch}")
        if self.workers < 0:
            problems.append(f"--workers must be >= 0, got {self.workers}")
        if self.device not in DEVICES:
            problems.append(f"--device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.patience is not None and self.patience < 1:
            problems.append(f"--patience must be >= 1, got {self.patience}")
        if not self.dist_timeout_s > 0:
            problems.append(f"--dist-timeout must be > 0 seconds, got {self.dist_timeout_s}")
        if problems:
            raise ValueError("; ".join(problems))


def preprocess_spec(model_cfg: ModelConfig, data_cfg: DataConfig) -> PreprocessSpec:
    """The input statistics the family asks for (its spec's normalisation), at the data's size and modality."""
    mean, std = NORMALISATION[family_spec(model_cfg.name).normalisation]
    return PreprocessSpec(img_size=data_cfg.img_size, mean=mean, std=std, modality=data_cfg.modality)


def from_dict(cls, d: dict):
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})


__all__ = ["AUGMENTATIONS", "DEVICES", "OPTIMIZERS", "DataConfig", "TrainConfig", "asdict", "from_dict",
           "preprocess_spec"]
