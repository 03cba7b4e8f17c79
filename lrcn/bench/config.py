"""What one vc-bench run measures, as typed data (saved into the JSON it writes)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field

from lrcn.core.checks import at_least, one_of, refuse
from lrcn.models.specs import family_names

SECTIONS = ("clip", "stream", "e2e", "train", "memory", "profile", "flow", "streams")
DEFAULT_SECTIONS = SECTIONS[:-1]
"""What `--only all` runs: streams (minutes of ladders, wants a quiet machine) runs when named."""
DEVICES = ("cpu", "cuda")


@dataclass
class BenchConfig:
    models: list[str] = field(default_factory=lambda: list(family_names()))
    """Families to measure, in order."""
    frames: int = 15
    """T: frames per clip (a trained run's own T replaces it)."""
    img_size: int = 128
    threads: int | None = None
    """CPU threads for both sides (torch.set_num_threads and onnxruntime intra-op); None: every core."""
    device: str = "cpu"
    repeat: int = 3
    """Rounds per side-by-side comparison (each side runs one block per round)."""
    block_s: float = 0.3
    """A side keeps calling for this long within its turn of a round (one call at least)."""
    max_s: float = 45.0
    """Soft cap per comparison: no new round starts after this many seconds (one round at least)."""
    sections: list[str] = field(default_factory=lambda: list(DEFAULT_SECTIONS))
    run: str | None = None
    """A trained run folder: its weights, T and image size instead of random weights."""
    backbone: str = "resnet152"
    """Backbone of the pretrained family."""
    batch: int = 8
    """Batch size of the clip-mode throughput figure."""
    train_clips: int = 16
    """Clips in the training-epoch measurement (frozen pretrained model)."""
    e2e_seconds: float = 4.0
    """How long the 30 fps source plays, per stream mode."""
    source_fps: float = 30.0
    source_size: tuple[int, int] = (320, 240)
    """Width, height of the end-to-end source video (resized to img_size by the runtime, as a camera's would be)."""
    streams_fps: float = 25.0
    """Streams section: each camera-like source's frame rate."""
    streams_seconds: float = 5.0
    """Streams section: seconds measured per step of the ladder (after a 1 s warm-up)."""
    streams_max: int = 64
    """Streams section: the ladder of concurrent streams stops here."""
    streams_procs_max: int = 16
    """Streams section: the most separate single-stream processes tried."""
    streams_mjpeg: bool = True
    """Streams section: also the figure with loopback MJPEG cameras (decoding included)."""
    streams_rtsp: bool = True
    """Streams section: also the figure with loopback H.264 RTSP cameras, 640x360 (skipped, said, without
    GStreamer's RTSP server and ffmpeg)."""
    workdir: str = "artifacts/bench"
    """Exported models (reused while the weights and versions match), synthetic videos, clip caches."""

    def __post_init__(self) -> None:
        problems = []
        bad = [m for m in self.models if m not in family_names()]
        if bad or not self.models:
            problems.append(f"models must be {', '.join(family_names())} or all, got {','.join(bad) or 'nothing'}")
        bad = [s for s in self.sections if s not in SECTIONS]
        if bad or not self.sections:
            problems.append(f"sections takes {', '.join(SECTIONS)}, got {','.join(bad) or 'nothing'}")
        problems += one_of(self, device=DEVICES)
        problems += at_least(
            self, frames=1, img_size=16, repeat=1, batch=1, train_clips=2, threads=1, streams_max=1, streams_procs_max=1
        )
        problems += at_least(self, block_s=0)
        problems += [
            f"{k} must be > 0, got {getattr(self, k)}"
            for k in ("max_s", "e2e_seconds", "source_fps", "streams_seconds", "streams_fps")
            if getattr(self, k) <= 0
        ]
        refuse(problems)
        if self.threads is None:
            self.threads = os.cpu_count() or 1

    def to_dict(self) -> dict:
        return asdict(self)
