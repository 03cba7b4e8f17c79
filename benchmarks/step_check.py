"""How well finished fold runs predict from the first t steps of a clip (README, "Training every step"), no training.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/step_check.py PARENT [PARENT ...]

Each test clip of PARENT's fold-*/ runs is sampled as clip mode samples it, and its fold's best.pt
reads the classifier after every LSTM step (`member_step_logits`; an ensemble's mean probability).
The accuracy after step t is what a `--stream --stateful` stream would show t frames into an action
that started with the stream; the last step's is the run's own test accuracy. Prints it per step,
pooled over the folds, then the accuracy of the per-step logits averaged over the last k steps
(each member on its own, then the members' mean probability): k = T is what `--pool mean` reads
from the same weights.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from lrcn.models.checkpoint import model_from_checkpoint
from lrcn.runtime.preprocess import PreprocessSpec, prepare_clip
from lrcn.train.config import DataConfig, from_dict
from lrcn.train.data import Sample, cache_clip, frames_to_sample, load_cached


@torch.no_grad()
def step_logits(run: Path) -> tuple[np.ndarray, np.ndarray]:
    """(clips, members, T, K) per-step logits of run's test clips, and their (clips,) labels."""
    config = json.loads((run / "config.json").read_text())
    model, _ = model_from_checkpoint(run / "best.pt")
    data = from_dict(DataConfig, config["data"])
    spec = PreprocessSpec.from_dict(config["preprocess"])
    num = frames_to_sample(data)
    rows, labels = [], []
    for t in json.loads((run / "splits.json").read_text())["test"]:
        frames = load_cached(cache_clip(Sample(t["path"], t["label"], ""), num, data))
        x = torch.from_numpy(prepare_clip(frames, spec))[None]
        rows.append(model.member_step_logits(x)[:, 0].numpy())  # (members, T, K)
        labels.append(t["label"])
    return np.stack(rows), np.array(labels)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parents", nargs="+", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    for parent in args.parents:
        folds = [step_logits(run) for run in sorted(parent.glob("fold-*"))]
        if not folds:
            raise SystemExit(f"{parent}: no fold-*/ runs")
        logits = np.concatenate([f[0] for f in folds])
        labels = np.concatenate([f[1] for f in folds])
        hits = softmax(logits).mean(1).argmax(-1) == labels[:, None]  # (clips, T)
        per_step = " ".join(f"{a:.3f}" for a in hits.mean(0))
        print(f"{parent.name}: {len(hits)} clips, accuracy after step 1..{hits.shape[1]}: {per_step}", flush=True)
        steps = logits.shape[2]
        for k in sorted({1, max(1, steps // 4), max(1, steps // 2), steps}):
            pred = softmax(logits[:, :, -k:].mean(2)).mean(1).argmax(-1)
            print(f"  logits averaged over the last {k} of {steps} steps: {(pred == labels).mean():.3f}", flush=True)


if __name__ == "__main__":
    main()
