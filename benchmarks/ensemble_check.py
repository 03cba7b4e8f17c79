"""Ensembles scored from finished fold runs' checkpoints (README, "Ensembles"), no training.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/ensemble_check.py members PARENT
        each member of a --members N run alone, and their mean, pooled over PARENT's fold-*/ test clips
    PYTHONPATH=$PWD .venv/bin/python benchmarks/ensemble_check.py across PARENT [PARENT ...]
        the mean probability, clip by clip, of the models that tested each clip in several --folds runs
        (other seeds deal other folds, so each model still never saw the clip it scores)

Reads each fold's config.json, splits.json and best.pt, and the decoded-clip cache (rebuilt if gone).
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


def test_clips(parent: Path):
    """(model, label, clip tensor (1, T, C, H, W), path) over every fold's test clips."""
    for run in sorted(parent.glob("fold-*")):
        config = json.loads((run / "config.json").read_text())
        model, _ = model_from_checkpoint(run / "best.pt")
        data = from_dict(DataConfig, config["data"])
        spec = PreprocessSpec.from_dict(config["preprocess"])
        for t in json.loads((run / "splits.json").read_text())["test"]:
            frames = load_cached(cache_clip(Sample(t["path"], t["label"], ""), frames_to_sample(data), data))
            yield model, t["label"], torch.from_numpy(prepare_clip(frames, spec))[None], t["path"]


@torch.no_grad()
def members(parent: Path) -> None:
    right, n = None, 0
    for model, label, x, _ in test_clips(parent):
        each = [int(m[0].argmax() == label) for m in model.member_logits(x)] + [int(model(x)[0].argmax() == label)]
        right = np.array(each) if right is None else right + each
        n += 1
    if right is None:
        raise SystemExit(f"{parent}: no fold-*/ test clips")
    print(f"{parent}: members {' '.join(f'{r / n:.3f}' for r in right[:-1])} -> mean {right[-1] / n:.3f} ({n} clips)")


@torch.no_grad()
def across(parents: list[Path]) -> None:
    probs: dict[str, list[np.ndarray]] = {}
    labels: dict[str, int] = {}
    for parent in parents:
        right = n = 0
        for model, label, x, path in test_clips(parent):
            n += 1
            p = torch.softmax(model(x), -1)[0].numpy()
            probs.setdefault(path, []).append(p)
            labels[path] = label
            right += int(p.argmax() == label)
        print(f"{parent}: {right / max(1, n):.3f} ({n} clips)")
    both = [k for k, v in probs.items() if len(v) == len(parents)]
    acc = np.mean([np.mean(probs[k], axis=0).argmax() == labels[k] for k in both])
    print(f"mean probability of the {len(parents)} runs: {acc:.3f} ({len(both)} clips tested by each)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("members", "across"))
    ap.add_argument("parents", nargs="+", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.mode == "members":
        for parent in args.parents:
            members(parent)
    else:
        across(args.parents)


if __name__ == "__main__":
    main()
