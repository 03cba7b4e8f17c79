"""Test-time averaging, measured: a run's test clips scored plain and averaged with their mirror image.

The search records, per inner fold, the accuracy with and without the horizontal-flip average
and what each costs per clip (one model pass against two). It does not choose it: vc-export's
metadata and vc-run do not carry test-time averaging, so a model chosen for it would score
less where it is deployed than the search said.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np


def flip_scores(run: Path) -> dict:
    """{plain, flip (accuracies), plain_ms, flip_ms (per clip, this machine)} on run's test split,
    from its best.pt and the decoded-clip cache."""
    import torch

    from lrcn.models.checkpoint import load_checkpoint
    from lrcn.models.config import ModelConfig
    from lrcn.models.registry import build_model
    from lrcn.runtime.preprocess import PreprocessSpec, prepare_clip
    from lrcn.train.config import DataConfig, from_dict
    from lrcn.train.data import Sample, cache_clip, frames_to_sample, load_cached

    config = json.loads((run / "config.json").read_text())
    model_cfg = ModelConfig.from_dict(config["model"])
    data_cfg = from_dict(DataConfig, config["data"])
    pre = config["preprocess"]
    spec = PreprocessSpec.from_dict(pre)
    model = build_model(model_cfg, load_weights=False)
    model.load_state_dict(load_checkpoint(run / "best.pt")["model"])
    model.eval()
    tests = json.loads((run / "splits.json").read_text())["test"]
    num = frames_to_sample(data_cfg)
    right = {"plain": 0, "flip": 0}
    seconds = {"plain": 0.0, "flip": 0.0}
    with torch.no_grad():
        for t in tests:
            frames = load_cached(cache_clip(Sample(t["path"], t["label"], ""), num, data_cfg))
            t0 = time.perf_counter()
            plain = torch.softmax(model(torch.from_numpy(prepare_clip(frames, spec))[None]), -1)
            t1 = time.perf_counter()
            mirror = np.ascontiguousarray(frames[:, :, ::-1])
            both = (plain + torch.softmax(model(torch.from_numpy(prepare_clip(mirror, spec))[None]), -1)) / 2
            t2 = time.perf_counter()
            seconds["plain"] += t1 - t0
            seconds["flip"] += t2 - t0
            right["plain"] += int(plain.argmax(-1).item() == t["label"])
            right["flip"] += int(both.argmax(-1).item() == t["label"])
    n = max(1, len(tests))
    return {
        "plain": right["plain"] / n,
        "flip": right["flip"] / n,
        "plain_ms": 1000 * seconds["plain"] / n,
        "flip_ms": 1000 * seconds["flip"] / n,
        "clips": len(tests),
    }
