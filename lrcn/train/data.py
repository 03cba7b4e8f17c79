"""Datasets over decoded clips: discovery, group-aware splits, the decoded-clip cache.

Torch enters only in `ClipDataset`/`FeatureDataset`; decoding and preprocessing are the
runtime's (lrcn.runtime.video / lrcn.runtime.preprocess), so train and deploy agree.
"""

from __future__ import annotations

import hashlib
import os
import re
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lrcn.core.atomic import atomic_open
from lrcn.core.errors import LrcnError, VideoError
from lrcn.runtime.preprocess import PreprocessSpec, extra_frames_for, prepare_clip
from lrcn.runtime.rect import WHOLE, Rect
from lrcn.runtime.roi import FIRST_GEOMETRY, ZoomGeometry
from lrcn.runtime.video import VIDEO_EXTENSIONS, read_clip
from lrcn.train.config import DataConfig

_GROUP = re.compile(r"^v_(?P<cls>.+)_g(?P<g>\d+)_c(?P<c>\d+)$", re.IGNORECASE)
CACHE_VERSION = 1


class DatasetError(LrcnError):
    """A data folder or split file that cannot be used."""


@dataclass(frozen=True)
class Sample:
    path: str
    label: int
    group: str


def group_of(path: str | Path, class_name: str) -> str:
    """UCF101 clips v_<Class>_gNN_cMM share group NN (same actor and scene); others stand alone."""
    stem = Path(path).stem
    m = _GROUP.match(stem)
    return f"{class_name}/g{int(m['g']):02d}" if m else f"{class_name}/{stem}"


def _is_video(p: Path) -> bool:
    return p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith(".")


def discover(cfg: DataConfig) -> tuple[list[str], list[Sample]]:
    """Class names (sorted) and every video under root/<class>/."""
    root = Path(cfg.root)
    if not root.is_dir():
        raise DatasetError(f"{root}: data folder not found")
    found = sorted(d.name for d in root.iterdir() if d.is_dir() and any(_is_video(f) for f in d.iterdir()))
    if len(found) < 2:
        raise DatasetError(
            f"{root}: needs at least 2 class folders holding videos ({', '.join(VIDEO_EXTENSIONS)}); "
            f"found {len(found)}. Layout: root/<class>/<video>"
        )
    names = found
    if cfg.classes:
        unknown = [c for c in cfg.classes if c not in found]
        if unknown:
            raise DatasetError(f"{root}: no class folder {', '.join(unknown)}; have {', '.join(found)}")
        names = sorted(cfg.classes)
    elif cfg.num_classes:
        if cfg.num_classes > len(found):
            raise DatasetError(f"{root}: --num-classes {cfg.num_classes} but only {len(found)} class folders")
        names = found[: cfg.num_classes]
    samples = []
    for label, name in enumerate(names):
        for f in sorted((root / name).iterdir()):
            if _is_video(f):  # directories named like videos are listed too, then refused by the reader
                samples.append(Sample(str(f), label, group_of(f, name)))
    if cfg.clips is not None:
        wanted = set(cfg.clips)
        samples = [s for s in samples if s.path in wanted]
    return names, samples


def _share(n: int, fraction: float) -> int:
    """Groups a split gets out of n: at least one when asked for and the class has 3 or more groups."""
    return max(1, round(n * fraction)) if n >= 3 and fraction > 0 else 0


def split_groups(samples: list[Sample], cfg: DataConfig, seed: int) -> dict[str, list[Sample]]:
    """Deterministic per-class split by group: clips of one group never straddle splits."""
    out: dict[str, list[Sample]] = {"train": [], "val": [], "test": []}
    by_class: dict[int, dict[str, list[Sample]]] = {}
    for s in samples:
        by_class.setdefault(s.label, {}).setdefault(s.group, []).append(s)
    for label in sorted(by_class):
        groups = sorted(by_class[label])
        rng = np.random.default_rng([seed, label])
        order = [groups[i] for i in rng.permutation(len(groups))]
        n = len(order)
        n_test = _share(n, cfg.test_fraction)
        n_val = _share(n, cfg.val_fraction)
        for i, g in enumerate(order):
            split = "test" if i < n_test else "val" if i < n_test + n_val else "train"
            out[split].extend(by_class[label][g])
    for k in out:
        out[k].sort(key=lambda s: s.path)
    return out


def official_split(samples: list[Sample], names: list[str], cfg: DataConfig, seed: int) -> dict[str, list[Sample]]:
    """UCF101 split files: testlist0K.txt is the test split; val is carved, by group, from trainlist0K."""
    d = Path(cfg.split_dir)
    test_file = d / f"testlist{cfg.split:02d}.txt"
    train_file = d / f"trainlist{cfg.split:02d}.txt"
    for f in (test_file, train_file):
        if not f.is_file():
            raise DatasetError(f"{f}: split file not found")

    def entries(f: Path) -> set[str]:
        rows = [ln.split()[0] for ln in f.read_text().splitlines() if ln.strip()]
        return {r.replace("\\", "/").lower() for r in rows}

    test_set, train_set = entries(test_file), entries(train_file)
    key = {s.path: f"{names[s.label]}/{Path(s.path).name}".lower() for s in samples}
    test = [s for s in samples if key[s.path] in test_set]
    train_pool = [s for s in samples if key[s.path] in train_set]
    inner = split_groups(train_pool, DataConfig(val_fraction=cfg.val_fraction, test_fraction=0.01), seed)
    # the tiny test carve-out of the inner split goes back to training
    return {"train": sorted(inner["train"] + inner["test"], key=lambda s: s.path), "val": inner["val"], "test": test}


def test_folder(cfg: DataConfig, names: list[str]) -> list[Sample]:
    """--test-data: every clip of the test folder, labelled by the training folder's class names."""
    from dataclasses import replace

    test_names, found = discover(replace(cfg, root=cfg.test_root, classes=None, num_classes=None))
    unknown = [n for n in test_names if n not in names]
    if unknown:
        raise DatasetError(
            f"{cfg.test_root}: class folder {', '.join(unknown)} is not a training class ({', '.join(names)})"
        )
    return [Sample(s.path, names.index(test_names[s.label]), s.group) for s in found]


def make_splits(cfg: DataConfig, seed: int) -> tuple[list[str], dict[str, list[Sample]]]:
    names, samples = discover(cfg)
    if cfg.folds:
        from lrcn.train.fold_groups import fold_split

        splits = fold_split(samples, cfg, seed)
    elif cfg.split_dir:
        splits = official_split(samples, names, cfg, seed)
    elif cfg.test_root:
        from dataclasses import replace

        splits = split_groups(samples, replace(cfg, test_fraction=0.0), seed)
        splits["test"] = sorted(test_folder(cfg, names), key=lambda s: s.path)
    else:
        splits = split_groups(samples, cfg, seed)
    if not splits["train"]:
        raise DatasetError(f"{cfg.root}: the training split is empty")
    return names, splits


# ---------------------------------------------------------------- decoded-clip cache


def frames_to_sample(cfg: DataConfig) -> int:
    """S: sampled frames per clip (T, plus one when the modality needs the frame before)."""
    return cfg.num_frames + extra_frames_for(cfg.modality)


def clip_cache_path(
    cache_dir: str | Path,
    video: str | Path,
    num: int,
    img_size: int,
    zoom: ZoomGeometry | None = None,
    box_num: int = 0,
    region: Rect = WHOLE,
) -> Path:
    st = os.stat(video)
    ident = f"{CACHE_VERSION}|{os.path.abspath(video)}|{st.st_size}|{st.st_mtime_ns}|{num}|{img_size}"
    if zoom is not None:  # unzoomed entries keep the names they had before the zoom existed
        ident += f"|zoom=motion|box={box_num}"
        if zoom != FIRST_GEOMETRY:  # and those cut with the first geometry the names they had before it was recorded
            ident += (
                f"|margin={float(zoom.margin)},grid={zoom.grid},max_zoom={float(zoom.max_zoom)},decode={zoom.decode}"
            )
    if region != WHOLE:  # whole frames keep the names they had before regions existed
        ident += f"|region={','.join(repr(float(v)) for v in region)}"
    digest = hashlib.sha1(ident.encode("utf-8", "surrogateescape")).hexdigest()  # a name may not be UTF-8
    return Path(cache_dir) / "clips" / f"{digest}.npz"


def atomic_savez(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as fh:  # readers see the whole file or none; concurrent writers are harmless
        np.savez(fh, **arrays)


@dataclass(frozen=True)
class CachedClip:
    sample: Sample
    cache: str
    sampled_fps: float | None


def cache_clip(sample: Sample, num: int, cfg: DataConfig) -> CachedClip:
    """Decode `sample` once per (num, img_size) into a uint8 cache file; raises VideoError."""
    try:
        # the zoom's box is always that of the S frames clip mode samples, whatever `num` caches
        box_num = frames_to_sample(cfg)
        region = cfg.cut
        path = clip_cache_path(cfg.cache_dir, sample.path, num, cfg.img_size, cfg.zoomed, box_num, region)
    except OSError as e:
        raise VideoError(f"{sample.path}: cannot read ({e.strerror})") from None
    if path.is_file():
        try:
            with np.load(path) as z:
                fps = float(z["sampled_fps"])
            return CachedClip(sample, str(path), None if np.isnan(fps) else fps)
        except Exception:  # noqa: BLE001 - a damaged cache entry is rebuilt
            pass
    clip = read_clip(
        sample.path, num, cfg.img_size, timeout_s=cfg.decode_timeout_s, zoom=cfg.zoomed, box_num=box_num, region=region
    )
    fps = clip.sampled_fps
    atomic_savez(path, frames=clip.frames, sampled_fps=np.float64(np.nan if fps is None else fps))
    return CachedClip(sample, str(path), fps)


def load_cached(c: CachedClip) -> np.ndarray:
    with np.load(c.cache) as z:
        return z["frames"]


def cache_split(samples: list[Sample], num: int, cfg: DataConfig, progress=None):
    """Cache every clip; returns (cached clips, skipped [{path, reason}])."""
    ok, skipped = [], []
    for s in samples:
        try:
            ok.append(cache_clip(s, num, cfg))
        except VideoError as e:
            skipped.append({"path": s.path, "reason": str(e)})
        if progress:
            progress()
    return ok, skipped


def median_sampled_fps(clips: list[CachedClip]) -> float | None:
    rates = [c.sampled_fps for c in clips if c.sampled_fps]
    return float(statistics.median(rates)) if rates else None


# ---------------------------------------------------------------- torch datasets


class ClipDataset:
    """Cached clips -> (x (T, C, H, W) float32 tensor, label). Augments only when told to."""

    def __init__(self, clips: list[CachedClip], spec: PreprocessSpec, augment=None, seed: int = 0):
        self.clips, self.spec, self.augment, self.seed = clips, spec, augment, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int):
        import torch

        frames = load_cached(self.clips[i])
        if self.augment is not None:
            rng = np.random.default_rng([self.seed, self.epoch, i])
            frames = self.augment(frames, rng)
        x = prepare_clip(frames, self.spec)
        return torch.from_numpy(x), self.clips[i].sample.label


class FeatureDataset:
    """Cached frozen-backbone features: (f (T, F) float32 tensor, label)."""

    def __init__(self, feats: list[np.ndarray], labels: list[int]):
        self.feats, self.labels = feats, labels

    def __len__(self) -> int:
        return len(self.feats)

    def __getitem__(self, i: int):
        import torch

        return torch.from_numpy(self.feats[i]), self.labels[i]
