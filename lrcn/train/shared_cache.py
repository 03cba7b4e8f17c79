"""The decoded-clip and backbone-feature caches under several ranks: each built once, in shards.

Rank r decodes (or runs the backbone on) items r, r + W, ... of each split; the parts are
gathered and put back in split order, so every rank ends with the same lists a single process
makes. Every cache file is written to a temp name and os.replace'd, so a reader never sees a
torn file. On several nodes without a shared --cache-dir, a node's local rank 0 fills in what
the other nodes decoded, then its other ranks read those files.
"""

from __future__ import annotations

from itertools import chain
from pathlib import Path

from lrcn.train import data as D
from lrcn.train.distributed import Ranks, gather
from lrcn.train.features import cache_features


def _in_order(items: list, samples: list, key) -> list:
    pos = {s.path: i for i, s in enumerate(samples)}
    return sorted(items, key=lambda x: pos[key(x)])


def cache_splits(
    splits: dict[str, list], sizes: dict[str, int], cfg: D.DataConfig, ranks: Ranks, progress=None
) -> tuple[dict[str, list], list[dict]]:
    """Decoded clips per split (in split order) and the skipped files, as `cache_split` gives them."""

    def share():
        return {k: D.cache_split(ranks.shard(v), sizes[k], cfg, progress=progress) for k, v in splits.items()}

    parts = gather(ranks, share)
    cached, skipped = {}, []
    for k, samples in splits.items():
        cached[k] = _in_order(list(chain.from_iterable(p[k][0] for p in parts)), samples, lambda c: c.sample.path)
        skipped += _in_order(list(chain.from_iterable(p[k][1] for p in parts)), samples, lambda s: s["path"])
    if ranks.enabled:
        _fill_local(cached, sizes, cfg, ranks)
    return cached, skipped


def _fill_local(cached: dict[str, list], sizes: dict[str, int], cfg: D.DataConfig, ranks: Ranks) -> None:
    """Decode here what another node decoded into a cache this node cannot see (no-op when shared)."""

    def fill():
        for k, clips in cached.items():
            for i, c in enumerate(clips):
                if not Path(c.cache).is_file():
                    clips[i] = D.cache_clip(c.sample, sizes[k], cfg)

    gather(ranks, fill if ranks.local_rank == 0 else (lambda: None))  # local rank 0 first ...
    if ranks.local_rank != 0:
        fill()  # ... then the node's other ranks find its files (cache hits)


def features(model, clips: list, spec, cache_dir: str, device, ranks: Ranks, progress=None) -> list:
    """Backbone features of every clip: each rank computes and writes its share, then all read all."""
    if not ranks.enabled:
        return cache_features(model, clips, spec, cache_dir, device, progress)

    def share() -> None:  # the arrays stay on disk; only the failure, if any, travels
        cache_features(model, ranks.shard(clips), spec, cache_dir, device, progress)

    gather(ranks, share)
    # every share is on disk now; a file this node cannot see is computed here, as a single process would
    return cache_features(model, clips, spec, cache_dir, device)
