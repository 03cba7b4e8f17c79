"""Test-time averaging scored from finished fold runs' checkpoints (README, "Choosing the configuration on your data"), no training.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/tta_check.py PARENT [PARENT ...]

Each test clip of PARENT's fold-*/ runs is scored by its fold's best.pt in six views: the clip
mode's own S sampled frames (phase 0), the same sampling moved half a step earlier (-1) and later
(+1), each as is and mirrored. The half steps are the frames training's temporal jitter draws from
(the dense cache of 2S - 1 frames, whose even frames are the plain sampling). Prints the accuracy
of plain scoring and of the mean probability over three phases, over the mirror pair, and over all
six, per fold and pooled, and the model passes each costs per clip.
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

PHASES = (-1, 0, 1)
CHOICES = {  # name -> the (phase, mirrored) views averaged
    "plain": [(0, False)],
    "3 phases": [(p, False) for p in PHASES],
    "flip": [(0, False), (0, True)],
    "3 phases x flip": [(p, m) for p in PHASES for m in (False, True)],
}


@torch.no_grad()
def view_probs(run: Path) -> list[tuple[int, dict]]:
    """[(label, {(phase, mirrored): probabilities (K,)})] for run's test clips."""
    config = json.loads((run / "config.json").read_text())
    model, _ = model_from_checkpoint(run / "best.pt")
    data = from_dict(DataConfig, config["data"])
    spec = PreprocessSpec.from_dict(config["preprocess"])
    num = frames_to_sample(data)
    dense_num = 2 * num - 1
    base = np.arange(num) * 2
    rows = []
    for t in json.loads((run / "splits.json").read_text())["test"]:
        dense = load_cached(cache_clip(Sample(t["path"], t["label"], ""), dense_num, data))
        views = {}
        for phase in PHASES:
            frames = dense[np.clip(base + phase, 0, dense_num - 1)]
            for mirrored in (False, True):
                f = np.ascontiguousarray(frames[:, :, ::-1]) if mirrored else frames
                x = torch.from_numpy(prepare_clip(f, spec))[None]
                views[(phase, mirrored)] = torch.softmax(model(x), -1)[0].numpy()
        rows.append((t["label"], views))
    return rows


def accuracy(rows: list[tuple[int, dict]], views: list) -> float:
    return float(np.mean([np.mean([v[k] for k in views], axis=0).argmax() == y for y, v in rows]))


def line(name: str, rows: list) -> str:
    return (
        f"{name:>24}  "
        + "  ".join(f"{c} {accuracy(rows, v):.3f}" for c, v in CHOICES.items())
        + f"  ({len(rows)} clips)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("parents", nargs="+", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    print("model passes per clip: " + ", ".join(f"{c} {len(v)}" for c, v in CHOICES.items()))
    for parent in args.parents:
        pooled: list = []
        for run in sorted(parent.glob("fold-*")):
            rows = view_probs(run)
            pooled += rows
            print(line(run.name, rows), flush=True)
        if not pooled:
            raise SystemExit(f"{parent}: no fold-*/ runs")
        print(line(f"{parent.name} pooled", pooled), flush=True)


if __name__ == "__main__":
    main()
