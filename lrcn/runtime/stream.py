"""Stream mode: a sliding window of T frames, one prediction per frame that enters it.

Frames are fed at the training sampling rate (sampled frames per second of source time, from
the metadata; `sample_fps` overrides). Each fed frame is preprocessed as it would be inside a
clip and goes once through the encoder part; the head part runs over the last T cached
features, so a window's prediction equals the full model's on the same frames. With
`stateful`, the step part carries the LSTM state instead: from zero state, after T frames it
equals the full model on those T frames, and it keeps going without a window.

This file holds the stream's configuration, prediction and statistics types (and `top_k`, which
clip mode shares); the work is done by `runtime.engine` (state and batched model calls) and
`runtime.scheduler` (capture threads, the inference loop, and `Stream`, one source on it), the
same code for one stream or many.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from lrcn.runtime.engine import BatchEngine, OneStream
from lrcn.runtime.motion import MotionConfig
from lrcn.runtime.packets import PacketRing
from lrcn.runtime.preprocess import FrameInput  # noqa: F401 - this module's API

UNCERTAIN = "uncertain"

PREDICTION_KEYS = (
    "type",
    "stream",
    "source",
    "frame",
    "t",
    "wall",
    "label",
    "probability",
    "uncertain",
    "top_k",
    "ms",
    "captured",
    "predicted",
    "latency_ms",
)
"""The prediction record's keys, in this order (`prediction_record`); a motion-gated stream's records add
"gated". The one record: a `vc-run --json` stream row, a sink's prediction record, vc-serve's."""


def top_k(probs: np.ndarray, names: list[str], k: int) -> list[tuple[str, float]]:
    """probs (K,) -> the k most probable (label, probability), most probable first."""
    order = np.argsort(-probs, kind="stable")[: max(1, k)]
    return [(names[i], float(probs[i])) for i in order]


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
    """Attach the window's resized RGB frames (S, H, W, 3) to each prediction (tests, debugging); a
    zoomed model's are at `roi.work_size`, not yet cut (`VideoClassifier.probs_from_frames` cuts them)."""
    realtime: bool = False
    """Play files at their own frame rate (as when shown); False: as fast as they decode. Live sources
    always run in real time."""
    motion: MotionConfig | None = None
    """Motion gating (`runtime.motion`): skip the encoder for frames whose view did not change. Window
    mode with rgb or diff input only; elsewhere it is off, with a warning (`scheduler.MultiStream.add`)."""

    def __post_init__(self) -> None:
        if self.sample_fps is not None and self.sample_fps < 0:
            raise ValueError(f"sample_fps must be >= 0, got {self.sample_fps}")
        if self.smooth < 1:
            raise ValueError(f"smooth must be >= 1, got {self.smooth}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1], got {self.threshold}")
        if self.max_frames is not None and self.max_frames < 1:
            raise ValueError(f"max_frames must be >= 1, got {self.max_frames}")


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
    """Preprocessing plus inference of the batch this frame went in (all streams of that tick)."""
    frame: np.ndarray
    """The source frame (BGR), for display and saving."""
    window: np.ndarray | None = None
    stream: str = ""
    """The stream's short name (given in a .streams file, or derived from the source)."""
    stream_id: int = -1
    """The id of the stream's `scheduler.StreamHandle` (unique in its MultiStream, unlike a name
    that can be removed and added again)."""
    source: str = ""
    """The source as opened (file path, URL, camera)."""
    captured: float = 0.0
    """Wall-clock time (epoch seconds) lrcn got the frame from its source."""
    predicted: float = 0.0
    """Wall-clock time of the prediction."""
    latency_ms: float = 0.0
    """Capture to prediction."""
    gated: bool | None = None
    """Motion gating: True when this frame's encoder call was skipped; None when the stream is not gated."""
    packets: PacketRing | None = None
    """The source's compressed packets, when it keeps them (`packet_source`): event media copies clips from it."""

    @property
    def ready(self) -> bool:
        return self.probs is not None

    @property
    def shown_label(self) -> str:
        return UNCERTAIN if self.uncertain else (self.label or "")

    def to_dict(self, source: str | None = None, *, stream: str | None = None, live: bool = False) -> dict:
        """This prediction's record (`prediction_record`)."""
        return prediction_record(self, stream=stream, source=source, live=live)


def prediction_record(pred, *, stream: str | None = None, source: str | None = None, live: bool = False) -> dict:
    """One prediction as a JSON-ready dict with PREDICTION_KEYS: what `vc-run --json` prints per prediction
    in stream mode and what every sink (jsonl, http, mqtt) and vc-serve send as a "prediction" record.

    `pred` is a `StreamPrediction` or any object with its `t`, `label`, `probability` and `uncertain`
    (`run_events.EventRouter` takes any engine's); what it lacks is written as null (`frame` -1, `top_k`
    empty). `stream` and `source` override the prediction's own. `wall` is the wall-clock time of the
    frame (its capture, else now) for a live source and null for a file, as in event records."""
    captured = getattr(pred, "captured", 0.0) or 0.0
    probability = getattr(pred, "probability", None)
    gated = getattr(pred, "gated", None)
    return {
        "type": "prediction",
        "stream": stream or getattr(pred, "stream", "") or "",
        "source": source or getattr(pred, "source", "") or "",
        "frame": getattr(pred, "source_index", -1),
        "t": round(float(pred.t), 3),
        "wall": (captured or time.time()) if live else None,
        "label": pred.label,
        "probability": None if probability is None else round(float(probability), 6),
        "uncertain": bool(getattr(pred, "uncertain", False)),
        "top_k": [[n, round(float(p), 6)] for n, p in getattr(pred, "top_k", ())],
        "ms": round(float(getattr(pred, "ms", 0.0)), 2),
        "captured": round(captured, 3),
        "predicted": round(float(getattr(pred, "predicted", 0.0)), 3),
        "latency_ms": round(float(getattr(pred, "latency_ms", 0.0)), 2),
        **({} if gated is None else {"gated": gated}),
    }


@dataclass
class StreamStats:
    """One stream's load: frames read, due (on the sampling grid), processed; latency percentiles."""

    read: int = 0
    processed: int = 0
    predictions: int = 0
    seconds: float = 0.0
    reconnects: int = 0
    due: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    gated: int | None = None
    """Motion gating: processed frames whose encoder call was skipped; None when the stream is not gated."""

    @property
    def dropped(self) -> int:
        """Read but never processed: skipped by the sampling rate or replaced by a newer frame."""
        return max(0, self.read - self.processed)

    @property
    def fps(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    @property
    def due_processed(self) -> float:
        """Share of the frames on the sampling grid that were processed (1.0: none replaced)."""
        return self.processed / self.due if self.due else 1.0

    def summary(self) -> str:
        extra = f", {self.reconnects} reconnect(s)" if self.reconnects else ""
        if self.gated is not None:
            extra += f", {self.gated} gated by motion ({self.gated / max(1, self.processed):.0%} without the CNN)"
        lat = (
            f"; latency p50 {self.latency_p50_ms:.0f} ms, p95 {self.latency_p95_ms:.0f} ms"
            if self.latency_p95_ms is not None
            else ""
        )
        return (
            f"frames read {self.read}, processed {self.processed}, dropped {self.dropped}; "
            f"{self.predictions} predictions; {self.fps:.1f} processed fps over {self.seconds:.1f} s{lat}{extra}"
        )

    def to_dict(self) -> dict:
        def r(v):
            return None if v is None else round(v, 2)

        return {
            "read": self.read,
            "due": self.due,
            "processed": self.processed,
            "dropped": self.dropped,
            "predictions": self.predictions,
            "fps": round(self.fps, 2),
            "seconds": round(self.seconds, 2),
            "latency_p50_ms": r(self.latency_p50_ms),
            "latency_p95_ms": r(self.latency_p95_ms),
            "reconnects": self.reconnects,
            **({} if self.gated is None else {"gated": self.gated}),
        }


def WindowHead(model, num_frames: int) -> OneStream:
    """One stream in window mode on the engine: encoder once per frame, head over the last T features.

    Named as the class it replaced, for the callers that know it (vc-bench's per-frame cost)."""
    return OneStream(BatchEngine.for_model(model, False, num_frames), model.meta.preprocess)


def StateStep(model, num_frames: int) -> OneStream:
    """One stream in stateful mode on the engine: the step part from zero state, ready after T frames."""
    return OneStream(BatchEngine.for_model(model, True, num_frames), model.meta.preprocess)
