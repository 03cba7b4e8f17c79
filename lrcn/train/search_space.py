"""What `vc-train --budget` searches over, read from the data: the levers that matter for video.

The input modalities come from where they are defined (lrcn.runtime.preprocess.MODALITIES): a
modality added there joins the search with no change here. Frames per clip are bounded by the
data's median decoded frame count, so a short clip is never padded by repeating its frames.
Nothing here is tuned to one data set: the choices are the same for any folder, only bounded
by its clip lengths and its class names (no flip where a name has a side in it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from lrcn.models.config import POOLS
from lrcn.runtime.preprocess import MODALITIES
from lrcn.runtime.roi import ZOOMS

SEARCH_MODALITIES: tuple[str, ...] = MODALITIES
"""Input modalities the search tries: every one the preprocessing knows."""
IMG_SIZES = (64, 112)
FRAMES = (8, 15)
EPOCHS = (20, 40, 60)
AUGMENT_LEVELS: dict[str, tuple[str, ...]] = {
    "none": (),
    "light": ("crop", "temporal"),
    "strong": ("crop", "temporal", "flip"),
    "strong+color": ("crop", "temporal", "flip", "color"),
}
"""Augmentation strength -> the training augmentations (lrcn.train.augment)."""
STEP_LOSSES = (0.0, 0.5, 1.0)
"""`--step-loss` choices: the last step's loss alone, half of it on every step's, or every step's
weighing as much as the last (higher on one dev set, equal or lower on four: the user's clips
decide). A saved search resumes on the choices it was saved with (Job.load)."""
TTA_CHOICES = ("none", "flip")
"""Test-time averaging: none, or the clip and its mirror image averaged (two passes)."""


@dataclass(frozen=True)
class SearchSpace:
    inputs: tuple[str, ...]
    img_sizes: tuple[int, ...]
    frames: tuple[int, ...]
    augments: tuple[str, ...]
    epochs: tuple[int, ...]
    tta: tuple[str, ...]
    sided: bool = False
    """A class name has a side in it: flip is dropped from augmentation and test-time averaging."""
    zooms: tuple[str, ...] = ("none",)
    """`--zoom` choices (lrcn.runtime.roi); a space saved before the zoom existed reads as none only."""
    pools: tuple[str, ...] = ("last",)
    """`--pool` choices (the head's reading over time); a space saved before it reads as last only."""
    step_losses: tuple[float, ...] = (0.0,)
    """`--step-loss` choices; a space saved before them reads as 0, as its recipe trained."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SearchSpace:
        return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items()})


def frames_cap(median_frames: int) -> int:
    """The most frames per clip for clips of this median length: median - 1 (the diff modalities
    read one frame more than T), so that half the clips or more hold every sampled frame for real."""
    return max(2, median_frames - 1)


def frames_choices(median_frames: int | None) -> tuple[int, ...]:
    """FRAMES, each at most `frames_cap`."""
    if not median_frames:
        return FRAMES
    cap = frames_cap(median_frames)
    return tuple(sorted({min(f, cap) for f in FRAMES}))


def space_for(median_frames: int | None, sided: bool, tta: bool) -> SearchSpace:
    return SearchSpace(
        inputs=SEARCH_MODALITIES,
        img_sizes=IMG_SIZES,
        frames=frames_choices(median_frames),
        augments=tuple(AUGMENT_LEVELS),
        epochs=EPOCHS,
        tta=("none", "flip") if tta and not sided else ("none",),
        sided=sided,
        zooms=ZOOMS,
        pools=POOLS,
        step_losses=STEP_LOSSES,
    )


LEVERS = ("input", "img_size", "frames", "augment", "epochs", "tta", "zoom", "pool", "step_loss")
"""The levers suggest() draws, in its order."""
LATER = {"pool": "pools", "step_loss": "step_losses"}
"""Levers added after searches were saved -> their SearchSpace field: drawn only where it offers a
choice, so a search saved before a lever resumes on its own sequence of draws."""


def drawn(space: SearchSpace) -> tuple[str, ...]:
    """The levers suggest() draws from the sampler in this space."""
    return tuple(k for k in LEVERS if k not in LATER or len(getattr(space, LATER[k])) > 1)


def first_choices(space: SearchSpace) -> dict:
    """The later levers' values where the space offers no choice (their first option)."""
    return {k: getattr(space, f)[0] for k, f in LATER.items()}


def normal(point: dict) -> dict:
    """The point as it trains: a head without an output at every step (mean pool) has no per-step
    loss, so (mean, 0.5) is (mean, 0) and reuses its fold runs rather than training them twice."""
    if point.get("pool", "last") != "last" and point.get("step_loss"):
        return {**point, "step_loss": 0.0}
    return point


def suggest(trial, space: SearchSpace) -> dict:
    """One point of the space from an Optuna trial (categorical choices, in the order of LEVERS)."""
    levers = drawn(space)
    point = {
        "input": trial.suggest_categorical("input", list(space.inputs)),
        "img_size": trial.suggest_categorical("img_size", list(space.img_sizes)),
        "frames": trial.suggest_categorical("frames", list(space.frames)),
        "augment": trial.suggest_categorical("augment", list(space.augments)),
        "epochs": trial.suggest_categorical("epochs", list(space.epochs)),
        "tta": trial.suggest_categorical("tta", list(space.tta)),
        "zoom": trial.suggest_categorical("zoom", list(space.zooms)),
    }
    first = first_choices(space)
    for lever, field in LATER.items():  # drawn only where there is a choice (LATER)
        point[lever] = (
            trial.suggest_categorical(lever, list(getattr(space, field))) if lever in levers else first[lever]
        )
    return normal(point)


def key(point: dict) -> str:
    """A folder name for a point: the same point always lands in the same folder."""
    return (
        f"{point['input'].replace('+', '-')}_img{point['img_size']}_t{point['frames']}"
        f"_aug-{point['augment']}_e{point['epochs']}"
        + (f"_tta-{point['tta']}" if point.get("tta", "none") != "none" else "")
        + (f"_zoom-{point['zoom']}" if point.get("zoom", "none") != "none" else "")
        + (f"_pool-{point['pool']}" if point.get("pool", "last") != "last" else "")
        + (f"_sl-{point['step_loss']:g}" if point.get("step_loss") else "")
    )


def augmentations(level: str, sided: bool) -> list[str]:
    kinds = AUGMENT_LEVELS[level]
    return [k for k in kinds if not (sided and k == "flip")]


def apply(point: dict, model_cfg, data_cfg, train_cfg, sided: bool):
    """The three configs with the point's levers set; the rest stays the base recipe's."""
    model = replace(model_cfg, img_size=point["img_size"], pool=point.get("pool", "last"))
    data = replace(
        data_cfg,
        modality=point["input"],
        zoom=point.get("zoom", "none"),
        img_size=point["img_size"],
        num_frames=point["frames"],
        augment=augmentations(point["augment"], sided),
    )
    train = replace(train_cfg, epochs=point["epochs"], warmup_epochs=min(train_cfg.warmup_epochs, point["epochs"] - 1))
    # a space without the lever keeps the recipe's; a mean-pooled head has no output at each step to train
    train = replace(train, step_loss=0.0 if model.step_absent else point.get("step_loss", train_cfg.step_loss))
    return model, data, train


def base_point(space: SearchSpace, data_cfg, train_cfg, pool: str = "last") -> dict:
    """The base recipe's own configuration, as the nearest point of the space: the search tries it
    first, so the other points are measured against what --budget 0 would have trained."""

    def near(options, value):
        return min(options, key=lambda o: (abs(o - value), o))

    kinds = set(data_cfg.augment)
    level = min(space.augments, key=lambda a: (len(kinds ^ set(augmentations(a, space.sided))), a))
    return {
        "input": data_cfg.modality if data_cfg.modality in space.inputs else space.inputs[0],
        "img_size": near(space.img_sizes, data_cfg.img_size),
        "frames": near(space.frames, data_cfg.num_frames),
        "augment": level,
        "epochs": near(space.epochs, train_cfg.epochs),
        "tta": "none",
        "zoom": data_cfg.zoom if data_cfg.zoom in space.zooms else space.zooms[0],
        "pool": pool if pool in space.pools else space.pools[0],
        "step_loss": near(space.step_losses, train_cfg.step_loss),
    }
