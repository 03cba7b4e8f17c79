"""Training-only augmentation of cached uint8 RGB clips (S', H, W, 3). Validation and test never augment.

Off by default. `flip` mirrors the clip, which relabels direction-dependent actions (the
synthetic set's move_left becomes move_right): use it only where left/right is no cue.
`temporal` needs a denser cache (2S - 1 frames, whose even frames are exactly the plain S
sampling) and jitters each sampled index by up to half a sampling step.
"""

from __future__ import annotations

import cv2
import numpy as np


def dense_frames(num: int, augment: list[str]) -> int:
    """Frames to cache for the training split: 2S - 1 with temporal jitter, else S."""
    return 2 * num - 1 if "temporal" in augment and num > 1 else num


class Augment:
    def __init__(self, kinds: list[str], num: int):
        self.kinds, self.num = set(kinds), num

    def __call__(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        k = frames.shape[0]
        if k != self.num:  # dense cache: pick S frames, jittered or not
            base = np.arange(self.num) * 2
            if "temporal" in self.kinds:
                base = np.sort(np.clip(base + rng.integers(-1, 2, self.num), 0, k - 1))
            frames = frames[base]
        if "flip" in self.kinds and rng.random() < 0.5:
            frames = frames[:, :, ::-1]
        if "crop" in self.kinds:
            frames = _crop(frames, rng)
        if "color" in self.kinds:
            frames = _color(frames, rng)
        return np.ascontiguousarray(frames)


def _crop(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One random crop of 80-100% of the side per clip, resized back (scale and shift jitter)."""
    n, h, w, _ = frames.shape
    scale = rng.uniform(0.8, 1.0)
    ch, cw = max(2, int(h * scale)), max(2, int(w * scale))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    return np.stack([cv2.resize(f[y : y + ch, x : x + cw], (w, h), interpolation=cv2.INTER_LINEAR) for f in frames])


def _color(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness and contrast jitter of +-20%, the same for every frame of the clip."""
    contrast, brightness = rng.uniform(0.8, 1.2), rng.uniform(-0.2, 0.2) * 255
    mean = frames.mean()
    out = (frames.astype(np.float32) - mean) * contrast + mean + brightness
    return np.clip(out, 0, 255).astype(np.uint8)
