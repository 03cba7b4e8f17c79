"""Frozen-backbone feature cache: the backbone runs once per clip, the head trains on the cache."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from lrcn.runtime.preprocess import PreprocessSpec, prepare_clip
from lrcn.train.data import CachedClip, atomic_savez, load_cached


def backbone_fingerprint(model) -> str:
    """Changes whenever the frozen weights do, so a stale cache is never reused."""
    h = hashlib.sha1()
    for k, v in sorted(model.encoder.backbone.state_dict().items()):
        h.update(k.encode())
        h.update(v.detach().cpu().numpy().tobytes()[:4096])
        h.update(str(float(v.float().sum())).encode())
    return h.hexdigest()[:16]


@torch.inference_mode()
def cache_features(
    model, clips: list[CachedClip], spec: PreprocessSpec, cache_dir: str, device, progress=None
) -> list[np.ndarray]:
    """(T, F) float32 frozen features per clip, computed once and cached on disk."""
    model.eval()
    tag = f"{backbone_fingerprint(model)}-{spec.modality}-{spec.img_size}-{hashlib.sha1(str(spec.mean + spec.std).encode()).hexdigest()[:8]}"
    out = []
    for c in clips:
        path = Path(cache_dir) / "features" / f"{Path(c.cache).stem}-{tag}.npz"
        feats = None
        if path.is_file():
            try:
                with np.load(path) as z:
                    feats = z["feats"]
            except Exception:  # noqa: BLE001 - rebuild a damaged entry
                feats = None
        if feats is None:
            x = torch.from_numpy(prepare_clip(load_cached(c), spec)).unsqueeze(0).to(device)
            feats = model.frozen_features(x)[0].float().cpu().numpy()
            atomic_savez(path, feats=feats)
        out.append(feats)
        if progress:
            progress()
    return out
