"""d. Training: seconds per epoch of the frozen pretrained model, with and without the feature cache.

Both epochs train the same model on the same decoded clips (the decoded-clip cache, as
vc-train uses it), batch 8, AdamW, with `lrcn.train.loop.train_one_epoch`:
- without the cache every batch goes through the frozen backbone (forward only: it has no
  gradients) and then the trainable Linear + LSTM;
- with it the backbone features were computed once (`lrcn.train.features.cache_features`,
  timed on its own as the one-time build) and each epoch trains on them.
An epoch here is the training pass alone (vc-train also evaluates on the validation split).
"""

from __future__ import annotations

import copy
import shutil
import tempfile
import time
from pathlib import Path

import torch

from lrcn.bench.config import BenchConfig
from lrcn.bench.timing import Side, alternate, ratio

BATCH = 8


def _loader(ds, seed: int = 0):
    g = torch.Generator()
    g.manual_seed(seed)
    return torch.utils.data.DataLoader(ds, batch_size=BATCH, shuffle=True, generator=g)


def measure(subject, cfg: BenchConfig, data_root: Path, log=print) -> dict:
    from lrcn.train import data as D
    from lrcn.train.config import DataConfig
    from lrcn.train.features import cache_features
    from lrcn.train.loop import train_one_epoch

    spec, t = subject.spec, subject.num_frames
    device = torch.device("cuda" if cfg.device == "cuda" else "cpu")
    dcfg = DataConfig(
        root=str(data_root),
        num_frames=t,
        img_size=spec.img_size,
        modality=spec.modality,
        cache_dir=str(Path(cfg.workdir) / "cache"),
    )
    _, samples = D.discover(dcfg)
    clips, skipped = D.cache_split(samples[: cfg.train_clips], D.frames_to_sample(dcfg), dcfg)
    if skipped:
        raise D.DatasetError(f"{skipped[0]['path']}: {skipped[0]['reason']}")
    labels = [c.sample.label for c in clips]
    model = copy.deepcopy(subject.model).to(device)  # training moves the head; the bench's model stays as exported
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    log(
        f"  training: {len(clips)} clips, one epoch without the feature cache, the one-time feature build, "
        "then cached epochs"
    )
    plain = D.ClipDataset(clips, spec)
    warm = torch.utils.data.Subset(plain, [0, 1])
    train_one_epoch(model, _loader(warm), opt, device)  # warm-up: allocator, kernels, first batch

    work = Path(tempfile.mkdtemp(prefix="features-", dir=cfg.workdir))  # a cold cache: really computed
    try:
        t0 = time.perf_counter()
        feats = cache_features(model, clips, spec, str(work), device)
        build_s = time.perf_counter() - t0
    finally:
        shutil.rmtree(work, ignore_errors=True)
    cached = D.FeatureDataset(feats, labels)
    train_one_epoch(model, _loader(cached), opt, device, frozen_inputs=True)  # warm-up of the cached side
    sides = [
        Side("without_cache", lambda: train_one_epoch(model, _loader(plain), opt, device)),
        Side("with_cache", lambda: train_one_epoch(model, _loader(cached), opt, device, frozen_inputs=True)),
    ]
    # an uncached ResNet152 epoch is the bench's costliest call: half the usual cap keeps it to two or so
    timings = alternate(sides, rounds=cfg.repeat, block_s=0.0, warmup=False, max_s=cfg.max_s / 2)
    for v in timings.values():  # seconds read better than ms for an epoch
        for k in ("median", "p25", "p75"):
            v[k] = round(v[k] / 1000.0, 4)
    saved = timings[sides[0].name]["median"] - timings[sides[1].name]["median"]
    return {
        "clips": len(clips),
        "frames": t,
        "img_size": spec.img_size,
        "batch": BATCH,
        "backbone": subject.config["model"]["backbone"],
        "feature_build_s": round(build_s, 3),
        "epoch_s": timings,
        "speedup": ratio(sides[0], sides[1]),
        "break_even_epochs": round(build_s / saved, 2) if saved > 0 else None,
    }
