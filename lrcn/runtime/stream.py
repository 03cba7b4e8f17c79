"""Stream mode: a sliding window of T frames, one prediction per frame that enters it.

Frames are fed at the training sampling rate (sampled frames per second of source time, from
the metadata; `sample_fps` overrides). Each fed frame is preprocessed as it would be inside a
clip and goes once through the encoder part; the head part runs over the last T cached
features, so a window's prediction equals the full model's on the same frames. With
`stateful`, the step part carries the LSTM state instead: from zero state, after T frames it
equals the full model on those T frames, and it keeps going without a window.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from lrcn.runtime import contract as K
from lrcn.runtime.classifier import top_k
from lrcn.runtime.preprocess import PreprocessSpec, normalize, resize_rgb

UNCERTAIN = "uncertain"


@dataclass(frozen=True)
class StreamConfig:
    """How a stream is fed and how its predictions are post-processed."""

    sample_fps: float | None = None
    """Frames fed per second of source time; None: the model's training rate; 0: every frame."""
    stateful: bool = False
    """Carry the LSTM state with the step part instead of re-running the head over a window."""
    smooth: int = 1
    """Moving average of the probabilities over this many predictions."""
    threshold: float = 0.0
    """Below this top-1 probability the prediction is marked uncertain."""
    max_frames: int | None = None
    """Stop after this many processed frames (None: until the source ends)."""
    keep_window: bool = False
    """Attach the window's resized RGB frames (S, H, W, 3) to each prediction (tests, debugging)."""

    def __post_init__(self) -> None:
        if self.sample_fps is not None and self.sample_fps < 0:
            raise ValueError(f"--sample-fps must be >= 0, got {self.sample_fps}")
        if self.smooth < 1:
            raise ValueError(f"--smooth must be >= 1, got {self.smooth}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"--threshold must be in [0, 1], got {self.threshold}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"--max-frames must be >= 1, got {self.max_frames}")


@dataclass
class StreamPrediction:
    """The state after one processed frame. Before the window is full, probs is None."""

    index: int
    """Processed-frame number in this stream."""
    source_index: int
    t: float
    probs: np.ndarray | None
    """(K,) smoothed probabilities."""
    label: str | None
    probability: float | None
    top_k: list[tuple[str, float]]
    uncertain: bool
    ms: float
    """Preprocessing plus inference for this frame."""
    frame: np.ndarray
    """The source frame (BGR), for display and saving."""
    window: np.ndarray | None = None

    @property
    def ready(self) -> bool:
        return self.probs is not None

    @property
    def shown_label(self) -> str:
        return UNCERTAIN if self.uncertain else (self.label or "")

    def to_dict(self, source: str) -> dict:
        return {"source": source, "frame": self.source_index, "t": round(self.t, 3), "label": self.label,
                "probability": None if self.probability is None else round(self.probability, 6),
                "uncertain": self.uncertain, "top_k": [[n, round(p, 6)] for n, p in self.top_k],
                "ms": round(self.ms, 2)}


class FrameInput:
    """One sampled RGB frame -> model input (C, H, W), as `prepare_clip` treats it inside a clip.

    The diff modalities keep the previous sampled frame; the first frame only primes it (None).
    """

    def __init__(self, spec: PreprocessSpec):
        self.spec = spec
        self.prev: np.ndarray | None = None

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        x = normalize(rgb[None], self.spec)[0]
        if self.spec.modality == "rgb":
            return x
        prev, self.prev = self.prev, x
        if prev is None:
            return None
        diff = x - prev
        return diff if self.spec.modality == "diff" else np.concatenate([x, diff], axis=0)


class WindowHead:
    """Encoder once per frame, head over the last T features."""

    def __init__(self, model, num_frames: int):
        self.encoder, self.head = model.part("encoder"), model.part("head")
        self.feats: deque[np.ndarray] = deque(maxlen=num_frames)

    def __call__(self, x: np.ndarray) -> np.ndarray | None:
        self.feats.append(self.encoder.run([K.FEATURES], {K.INPUT_FRAME: x[None]})[0][0])
        if len(self.feats) < self.feats.maxlen:
            return None
        return self.head.run([K.OUTPUT_PROBS], {K.FEATURES: np.stack(self.feats)[None]})[0][0]


class StateStep:
    """The step part from zero state, carrying (h, c); ready once T frames went in."""

    def __init__(self, model, num_frames: int):
        meta = model.meta
        self.step = model.part("step")
        self.h = np.zeros((meta.lstm_layers, 1, meta.hidden_size), np.float32)
        self.c = np.zeros_like(self.h)
        self.seen, self.num_frames = 0, num_frames

    def __call__(self, x: np.ndarray) -> np.ndarray | None:
        probs, self.h, self.c = self.step.run([K.OUTPUT_PROBS, K.STATE_H_OUT, K.STATE_C_OUT],
                                              {K.INPUT_FRAME: x[None], K.STATE_H: self.h, K.STATE_C: self.c})
        self.seen += 1
        return probs[0] if self.seen >= self.num_frames else None


@dataclass
class StreamStats:
    read: int = 0
    processed: int = 0
    predictions: int = 0
    seconds: float = 0.0
    reconnects: int = 0

    @property
    def dropped(self) -> int:
        """Read but never processed: skipped by the sampling rate or replaced by a newer frame."""
        return max(0, self.read - self.processed)

    @property
    def fps(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        extra = f", {self.reconnects} reconnect(s)" if self.reconnects else ""
        return (f"frames read {self.read}, processed {self.processed}, dropped {self.dropped}; "
                f"{self.predictions} predictions; {self.fps:.1f} processed fps over {self.seconds:.1f} s{extra}")


class Stream:
    """Iterate for StreamPredictions; `stats` at any time; `close()` (or `with`) stops the source."""

    def __init__(self, classifier, source, cfg: StreamConfig):
        self.clf, self.source, self.cfg = classifier, source, cfg
        meta = classifier.meta
        self.spec = meta.preprocess
        rate = meta.sample_fps if cfg.sample_fps is None else cfg.sample_fps
        self.sample_fps = rate if rate and rate > 0 else None
        t = meta.num_frames
        self.engine = StateStep(classifier.model, t) if cfg.stateful else WindowHead(classifier.model, t)
        self._stats = StreamStats()
        self._t0: float | None = None

    @property
    def stats(self) -> StreamStats:
        s = self._stats
        s.read = self.source.read
        s.reconnects = getattr(self.source, "reconnects", 0)
        if self._t0 is not None:
            s.seconds = time.perf_counter() - self._t0
        return s

    def __iter__(self):
        cfg, names, k = self.cfg, self.clf.class_names, self.clf.k
        frame_input = FrameInput(self.spec)
        window = deque(maxlen=self.clf.sampled_frames)
        recent = deque(maxlen=cfg.smooth)
        period = 1.0 / self.sample_fps if self.sample_fps else 0.0
        next_t = None
        self._t0 = time.perf_counter()
        for fr in self.source.frames():
            if period and next_t is not None and fr.t < next_t - 1e-6:
                continue
            # keep the sampling grid; a source far ahead of it (slow consumer) re-anchors it
            next_t = fr.t + period if next_t is None or fr.t - next_t >= period else next_t + period
            t0 = time.perf_counter()
            rgb = resize_rgb(fr.image, self.spec.img_size)
            x = frame_input(rgb)
            raw = self.engine(x) if x is not None else None
            window.append(rgb)
            self._stats.processed += 1
            pred = self._prediction(fr, raw, recent, names, k, time.perf_counter() - t0)
            if cfg.keep_window and pred.ready:
                pred.window = np.stack(window)
            yield pred
            if cfg.max_frames and self._stats.processed >= cfg.max_frames:
                return

    def _prediction(self, fr, raw, recent, names, k, seconds) -> StreamPrediction:
        if raw is None:
            return StreamPrediction(self._stats.processed - 1, fr.index, fr.t, None, None, None, [], False,
                                    seconds * 1e3, fr.image)
        recent.append(raw)
        probs = np.mean(recent, axis=0) if len(recent) > 1 else raw
        best = top_k(probs, names, k)
        self._stats.predictions += 1
        return StreamPrediction(self._stats.processed - 1, fr.index, fr.t, probs, best[0][0], best[0][1], best,
                                best[0][1] < self.cfg.threshold, seconds * 1e3, fr.image)

    def close(self) -> None:
        self.source.close()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
