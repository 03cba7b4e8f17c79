"""Fold groups and the split of one fold: what `data.make_splits` needs of k-fold (folds.py runs the folds).

A fold group is the recording a clip comes from: the gNN of a UCF101-style name
(v_<Class>_gNN_cMM), shared by every class; a file without that pattern is a group of its own.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from lrcn.train.config import DataConfig

_NUMBER = re.compile(r"^v_.+_g(?P<g>\d+)_c\d+$", re.IGNORECASE)


def fold_group(sample) -> str:
    """gNN for UCF101-style names (shared across classes), else the file's own class/stem."""
    stem = Path(sample.path).stem
    m = _NUMBER.match(stem)
    return f"g{int(m['g']):02d}" if m else f"{Path(sample.path).parent.name}/{stem}"


def assign_folds(samples: list, k: int, seed: int) -> list[list[str]]:
    """The groups of each of k folds: a seeded order, then each group (largest first) to the fold
    with the fewest clips so far, so folds hold about the same number of clips."""
    sizes: dict[str, int] = {}
    for s in samples:
        g = fold_group(s)
        sizes[g] = sizes.get(g, 0) + 1
    groups = sorted(sizes)
    if not 2 <= k <= len(groups):
        raise ValueError(f"--folds {k}: needs 2 to {len(groups)} folds (the data has {len(groups)} groups)")
    order = [groups[i] for i in np.random.default_rng(seed).permutation(len(groups))]
    order.sort(key=lambda g: -sizes[g])  # stable: equal sizes keep the seeded order
    folds: list[list[str]] = [[] for _ in range(k)]
    load = [0] * k
    for g in order:
        i = min(range(k), key=lambda j: (load[j], j))
        folds[i].append(g)
        load[i] += sizes[g]
    return [sorted(f) for f in folds]


def fold_split(samples: list, cfg: DataConfig, seed: int) -> dict[str, list]:
    """train/val/test of fold cfg.fold: test is that fold; val is a val_fraction share of the other
    folds' groups (whole groups, seeded), train the rest."""
    folds = assign_folds(samples, cfg.folds, seed)
    test_groups = set(folds[cfg.fold])
    rest = sorted({fold_group(s) for s in samples} - test_groups)
    n_val = max(1, round(len(rest) * cfg.val_fraction)) if cfg.val_fraction > 0 and len(rest) >= 2 else 0
    rng = np.random.default_rng([seed, cfg.fold, 7])
    val_groups = {rest[i] for i in rng.permutation(len(rest))[:n_val]}
    out: dict[str, list] = {"train": [], "val": [], "test": []}
    for s in samples:
        g = fold_group(s)
        out["test" if g in test_groups else "val" if g in val_groups else "train"].append(s)
    for v in out.values():
        v.sort(key=lambda s: s.path)
    return out
