"""Model input for the parity gate and the edge-variant checks: real clips from the run's splits.

Each video is decoded once; clips of any length T are then sampled from it the way the
runtime samples them (T + extra frames for the modality, spread evenly), so one set of videos
serves T = 1, the trained T and 2T + 1. Without readable videos the input is synthetic.
Torch-free.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lrcn.core.errors import VideoError
from lrcn.runtime.preprocess import PreprocessSpec, prepare_clip
from lrcn.runtime.video import DecodedVideo, clip_from_video, decode_video, sample_indices


@dataclass
class ClipSet:
    """Decoded videos (or none: synthetic input) and how to turn them into model input."""

    spec: PreprocessSpec
    videos: list[DecodedVideo] = field(default_factory=list)
    origin: str = "synthetic"
    """Where the clips came from, e.g. "val" or "val+test"; "synthetic" without videos."""

    @property
    def paths(self) -> list[str]:
        return [v.path for v in self.videos]

    def __len__(self) -> int:
        return len(self.videos)

    def clips(self, t: int, n: int) -> np.ndarray:
        """n clips of t steps -> (n, t, C, S, S) float32; videos repeat when there are fewer than n."""
        if not self.videos:
            rng = np.random.default_rng(1000 * t + n)
            s = self.spec.img_size
            return rng.standard_normal((n, t, self.spec.channels, s, s), dtype=np.float32)
        num = t + self.spec.extra_frames
        out = []
        for i in range(n):
            video = self.videos[i % len(self.videos)]
            clip = clip_from_video(video, sample_indices(len(video.frames), num))
            out.append(prepare_clip(clip.frames, self.spec))
        return np.stack(out).astype(np.float32, copy=False)


def _split_paths(run_dir: Path | None, split: str) -> list[str]:
    if run_dir is None:
        return []
    try:
        splits = json.loads((run_dir / "splits.json").read_text())
    except (OSError, ValueError):
        return []
    return [s["path"] for s in splits.get(split, []) if isinstance(s, dict) and "path" in s]


def load_clips(run_dir: Path | None, spec: PreprocessSpec, *, splits: tuple[str, ...], limit: int) -> ClipSet:
    """Up to `limit` decodable videos, taken from `splits` in order; unreadable ones are passed over."""
    videos, used = [], []
    for split in splits:
        for path in _split_paths(run_dir, split):
            if len(videos) >= limit:
                break
            try:
                videos.append(decode_video(path, spec.img_size, zoom=spec.zoomed, region=spec.region))
            except VideoError:
                continue
            if split not in used:
                used.append(split)
    return ClipSet(spec, videos, "+".join(used) if videos else "synthetic")
