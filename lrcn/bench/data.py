"""The bench's own videos: a small synthetic set (training, real clips) and a 30 fps source.

Made once in the work folder with the built-in synthetic generator, so a bench needs no
dataset; with --run, real clips come from the run's validation split instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lrcn.bench.config import BenchConfig

SET_CLASSES, SET_FRAMES, SET_SIZE = 4, 30, 128
SOURCE_SECONDS = 4.0


def synthetic_set(cfg: BenchConfig) -> Path:
    """root/<class>/<video>.avi with train_clips videos over 4 classes (30 frames, 128 px, 30 fps)."""
    from lrcn.train.synth import SynthConfig, make_dataset

    per_class = -(-cfg.train_clips // SET_CLASSES)
    root = Path(cfg.workdir) / "data" / f"synth-{SET_CLASSES}x{per_class}"
    done = root / ".done"
    if not done.is_file():
        make_dataset(
            root, SynthConfig(classes=SET_CLASSES, clips_per_class=per_class, frames=SET_FRAMES, size=SET_SIZE, seed=5)
        )
        done.write_text("")
    return root


def source_video(cfg: BenchConfig) -> Path:
    """A moving shape at cfg.source_fps, cfg.source_size (MJPG .avi), SOURCE_SECONDS long."""
    from lrcn.train.synth import render_clip, write_video

    w, h = cfg.source_size
    path = Path(cfg.workdir) / "data" / f"source-{w}x{h}-{cfg.source_fps:g}fps.avi"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(7)
        side = max(w, h)
        scene = rng.integers(20, 90, (side, side, 3), dtype=np.uint8)
        frames = render_clip("move_right", rng, scene, int(SOURCE_SECONDS * cfg.source_fps))
        write_video(path, [np.ascontiguousarray(f[:h, :w]) for f in frames], cfg.source_fps)
    return path


def real_clips(spec, num_frames: int, cfg: BenchConfig, n: int, splits=("val", "test")) -> tuple[np.ndarray, str]:
    """n clips (n, T, C, S, S) of real video from the run's `splits` (else the bench's synthetic
    set), and where they came from."""
    from lrcn.export.clips import ClipSet, load_clips
    from lrcn.runtime.video import decode_video

    clips = load_clips(Path(cfg.run), spec, splits=splits, limit=n) if cfg.run else ClipSet(spec)
    if not len(clips):
        paths = sorted(synthetic_set(cfg).rglob("*.avi"))[:n]
        clips = ClipSet(
            spec, [decode_video(p, spec.img_size, region=spec.region) for p in paths], "bench synthetic set"
        )
    return clips.clips(num_frames, n), clips.origin
