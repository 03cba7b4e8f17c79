"""`VideoClassifier`: the Python API of the runtime.

    clf = VideoClassifier("artifacts/models/convlstm.onnx")
    p = clf.predict("video.avi")            # clip mode: label, probability, top_k, timings
    for s in clf.stream(0): ...             # stream mode: one StreamPrediction per processed frame
    for s in clf.streams(["door.mp4", 0]):  # many streams batched together; s.stream names each

Clip mode samples and preprocesses exactly as training does (`video.clip_windows` over the
decoded frames, then `preprocess.prepare_clip`), so its top-1 matches the PyTorch model's.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from lrcn.core.paths import DECODE_TIMEOUT_S, STREAM_TIMEOUT_S
from lrcn.runtime.model import LrcnModel
from lrcn.runtime.preprocess import prepare_clip
from lrcn.runtime.roi import work_size, zoom_clip
from lrcn.runtime.session import SessionConfig
from lrcn.runtime.stream import StreamConfig, top_k
from lrcn.runtime.video import clip_from_video, clip_windows, decode_video


@dataclass
class Prediction:
    """One video classified in clip mode. probs (K,) is the mean over the clips."""

    source: str
    label: str
    probability: float
    top_k: list[tuple[str, float]]
    probs: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)
    """Milliseconds: decode, preprocess, infer, total."""
    clips: int = 1
    frames: int = 0
    """Frames that really decoded."""

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "label": self.label,
            "probability": round(self.probability, 6),
            "top_k": [[n, round(p, 6)] for n, p in self.top_k],
            "clips": self.clips,
            "frames": self.frames,
            "ms": {k: round(v, 2) for k, v in self.timings.items()},
        }


def error_row(source: str, message: str) -> dict:
    """A file that could not be classified, as its result row: the source and the one-line reason."""
    return {"source": source, "error": message}


class VideoClassifier:
    """An exported lrcn model (M.onnx, its parts beside it) ready to classify videos and streams."""

    def __init__(
        self,
        model: str | os.PathLike,
        *,
        device: str = "auto",
        threads: int | None = None,
        top_k: int = 5,
        decode_timeout_s: float = DECODE_TIMEOUT_S,
    ):
        self.model = LrcnModel(model, SessionConfig(device=device, threads=threads))
        self.meta = self.model.meta
        self.k = top_k
        self.decode_timeout_s = decode_timeout_s

    @property
    def class_names(self) -> list[str]:
        return self.meta.class_names

    @property
    def providers(self) -> list[str]:
        """What the sessions really run on (`session.get_providers()`)."""
        return self.model.providers

    @property
    def device_note(self) -> str | None:
        """Why `auto` runs on the CPU, or None."""
        return self.model.factory.note

    @property
    def sampled_frames(self) -> int:
        """S frames sampled per clip: T, plus one for the diff modalities."""
        return self.meta.num_frames + self.meta.preprocess.extra_frames

    def probs_from_frames(self, frames_rgb: np.ndarray) -> np.ndarray:
        """Resized uint8 RGB frames (S, H, W, 3) or clips (N, S, H, W, 3) -> probs (K,) or (N, K).

        A zoomed model takes them at `roi.work_size` (a stream's kept window) and cuts each clip first."""
        one = frames_rgb.ndim == 4
        clips = frames_rgb[None] if one else frames_rgb
        pre = self.meta.preprocess
        if pre.zoomed is not None:
            side = work_size(pre.img_size, pre.zoomed)
            if clips.shape[-3:-1] != (side, side):
                raise ValueError(f"a zoomed model takes frames at {side} x {side} (roi.work_size), got {clips.shape}")
            clips = np.stack([zoom_clip(c, pre.img_size, pre.zoomed) for c in clips])
        x = np.stack([prepare_clip(c, pre) for c in clips])
        probs = self.model.probs(x)
        return probs[0] if one else probs

    def predict(self, path: str | os.PathLike, *, clips: int = 1) -> Prediction:
        """Classify one video file; `clips` > 1 averages evenly spaced clips. Raises VideoError."""
        t0 = time.perf_counter()
        pre = self.meta.preprocess
        video = decode_video(path, pre.img_size, timeout_s=self.decode_timeout_s, zoom=pre.zoomed, region=pre.region)
        t1 = time.perf_counter()
        windows = clip_windows(len(video.frames), self.sampled_frames, clips)
        x = np.stack([prepare_clip(clip_from_video(video, w).frames, self.meta.preprocess) for w in windows])
        t2 = time.perf_counter()
        probs = self.model.probs(x).mean(axis=0)
        t3 = time.perf_counter()
        best = top_k(probs, self.class_names, self.k)
        ms = {
            "decode": (t1 - t0) * 1e3,
            "preprocess": (t2 - t1) * 1e3,
            "infer": (t3 - t2) * 1e3,
            "total": (t3 - t0) * 1e3,
        }
        return Prediction(str(path), best[0][0], best[0][1], best, probs, ms, len(windows), video.num_decoded)

    def stream(self, source, config=None, *, reconnect: int = 5, timeout_s: float | None = None, **options):
        """A `scheduler.Stream` over `source`: a file path, camera index, URL or FrameSource.

        Pass a `stream.StreamConfig` or its fields (sample_fps, stateful, smooth, threshold,
        max_frames, keep_window); `reconnect` is for cameras and URLs, `timeout_s` (open and
        read limit, default core.paths.STREAM_TIMEOUT_S) for them and for the wait on a file's
        decoder. Iterate it for StreamPredictions; `.stats` counts frames read, processed and
        dropped; `.close()` stops the capture.
        """
        from dataclasses import replace

        from lrcn.runtime.scheduler import Stream
        from lrcn.runtime.sources import open_source

        cfg = replace(config, **options) if config is not None else StreamConfig(**options)
        src = (
            source
            if hasattr(source, "frames")
            else open_source(
                source, reconnect=reconnect, timeout_s=STREAM_TIMEOUT_S if timeout_s is None else timeout_s
            )
        )
        try:
            return Stream(self, src, cfg)
        except BaseException:
            src.close()
            raise

    def streams(self, sources, config=None, *, reconnect: int = 5, timeout_s: float | None = None, **options):
        """A `scheduler.MultiStream` over many sources at once, their frames batched through one model.

        `sources`: a list of file paths, camera indices, URLs or FrameSources, or a dict
        {name: source}; names default to short ones (`cam0`, `host:port`, a file's stem). Options
        as for `stream`. Iterate it for StreamPredictions, each with `.stream` (its name) and
        `.latency_ms`; `.ticks()` also reports each stream's end (`StreamEnd`, with its error: one
        stream failing never stops the others); `.stats(i)`; `.close()` stops all. A source that
        cannot open raises here, before any stream starts. More streams can be added later, each
        with its own settings (`.add(name, source, StreamConfig(...), EventConfig(...))` returns its
        `StreamHandle`; `.remove(handle)`), also while `.ticks()` runs in another thread.
        """
        from dataclasses import replace

        from lrcn.runtime.scheduler import MultiStream
        from lrcn.runtime.sources import open_source
        from lrcn.runtime.streamlist import short_name, unique_names

        cfg = replace(config, **options) if config is not None else StreamConfig(**options)
        items = list(sources.items()) if isinstance(sources, dict) else [(None, s) for s in sources]
        timeout = STREAM_TIMEOUT_S if timeout_s is None else timeout_s
        opened = []
        try:
            for name, s in items:
                src = s if hasattr(s, "frames") else open_source(s, reconnect=reconnect, timeout_s=timeout)
                opened.append((name or short_name(src.name), src))
            names = unique_names([n for n, _ in opened])
            return MultiStream(self, [(n, src) for n, (_, src) in zip(names, opened)], cfg)
        except BaseException:
            for _, src in opened:
                src.close()
            raise
