"""Many streams, one process: a capture thread per stream, one inference loop batching them all.

Design. Each stream has a feeder thread that reads its source, keeps the frames on its
sampling grid, resizes and normalises them (OpenCV and numpy release the GIL, so this runs
beside inference) and hands them to the stream's `Mailbox`: a live source keeps only its
newest frame there, a file waits until its frame was taken (every sampled frame of a file is
processed). One loop, in the
caller's thread, waits until any mailbox holds something, takes at most ONE frame from every
stream that has one, and advances them together through `engine.BatchEngine` (one encoder
call, one head call; or one step call). Why this shape:

- latency: a stream's frame waits at most for the batch in flight; nothing queues behind it,
  so capture-to-prediction time stays bounded by about two batch times however long it runs;
- fairness: one frame per stream per tick, so a fast camera cannot crowd out a slow one, and
  a stream with no frame (slow, reconnecting, stalled) is simply not in the batch: it never
  stalls the others; its own thread does its waiting, reconnecting and failing;
- throughput: frames that arrive during a batch are batched together in the next one, so
  the batch grows with load and the per-call overhead is shared (no timer, no extra latency).
A stream that ends or fails leaves the loop alone (a `StreamEnd` with its error); the others
go on. The caller's KeyboardInterrupt stops the loop; `close()` then stops every feeder.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from lrcn.core.errors import LrcnError, SourceError, VideoError
from lrcn.runtime.classifier import top_k
from lrcn.runtime.engine import BatchEngine, StreamState
from lrcn.runtime.frame_source import FrameSource
from lrcn.runtime.mailbox import Mailbox
from lrcn.runtime.preprocess import PreprocessSpec, normalize, resize_rgb
from lrcn.runtime.stream import StreamConfig, StreamPrediction, StreamStats

if TYPE_CHECKING:
    from lrcn.runtime.sources import Frame

WAIT_S = 0.25
"""The loop wakes at least this often (KeyboardInterrupt, end of all streams)."""
LATE_S = 0.1
"""A file played in real time that falls this far behind its clock resets the clock."""


@dataclass
class Captured:
    frame: Frame
    rgb: np.ndarray
    """Resized RGB, the model's input size."""
    x: np.ndarray
    """The same normalised (3, H, W) float32, as `preprocess.normalize` makes it."""
    wall: float
    """time.time() when the feeder got the frame (the capture, as seen by lrcn)."""
    mono: float
    """time.perf_counter() at the same moment, for latency."""


class Feeder:
    """Reads one source in a daemon thread: sampling grid, optional real-time pacing, resize, mailbox."""

    def __init__(
        self,
        source: FrameSource,
        spec: PreprocessSpec,
        sample_fps: float | None,
        realtime: bool,
        mailbox: Mailbox[Captured],
    ):
        self.source, self.spec, self.mailbox = source, spec, mailbox
        self.period = 1.0 / sample_fps if sample_fps else 0.0
        self.realtime = realtime and not getattr(source, "live", False)
        self.due = 0
        """Frames on the sampling grid (handed to the mailbox)."""
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"feed:{source.name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        error, next_t, t0 = None, None, None
        try:
            for fr in self.source.frames():
                if self._stop.is_set():
                    break
                if self.period and next_t is not None and fr.t < next_t - 1e-6:
                    continue
                # keep the sampling grid; a source far ahead of it (a slow consumer) re-anchors it
                p = self.period
                next_t = fr.t + p if next_t is None or fr.t - next_t >= p else next_t + p
                if self.realtime:  # a shown file plays at its own frame rate
                    now = time.monotonic()
                    if t0 is None or now - (t0 + fr.t) > LATE_S:  # behind (a stalled consumer): play on from
                        t0 = now - fr.t  # here, slower, rather than in a burst
                    if self._stop.wait(max(0.0, t0 + fr.t - now)):
                        break
                self.due += 1
                wall, mono = time.time(), time.perf_counter()
                rgb = resize_rgb(fr.image, self.spec.img_size)  # here, not in the loop: beside inference
                item = Captured(fr, rgb, normalize(rgb[None], self.spec)[0], wall, mono)
                if not self.mailbox.put(item):
                    break
        except LrcnError as e:
            error = e
        except Exception as e:  # noqa: BLE001 - a source's own failure ends that stream alone, in one line
            error = SourceError(f"{self.source.name}: {type(e).__name__}: {e}")
        finally:
            self.mailbox.close(error)

    def stop(self) -> None:
        self._stop.set()
        self.mailbox.close()


def _any_ready(slots: list[_Slot]) -> bool:
    return any(s.feeder.mailbox.pending or s.feeder.mailbox.closed for s in slots)


def _close_source(source: FrameSource) -> threading.Thread:
    """Close in a helper thread: a live source's close may wait for a blocked read."""
    t = threading.Thread(target=source.close, name=f"close:{source.name}", daemon=True)
    t.start()
    return t


@dataclass
class StreamEnd:
    """A stream that left the loop: ran out, failed, or was stopped by max_frames."""

    name: str
    stats: StreamStats
    error: LrcnError | None


@dataclass
class Tick:
    """What one pass of the loop produced: a prediction per stream in the batch, and the streams that ended."""

    predictions: list[StreamPrediction]
    ended: list[StreamEnd]


class _Slot:
    def __init__(self, name: str, source: FrameSource, state: StreamState, feeder: Feeder, keep: int):
        self.name, self.source, self.state, self.feeder = name, source, state, feeder
        self.window: deque | None = deque(maxlen=keep) if keep else None
        self.t0: float | None = None
        self.t_end: float | None = None
        self.error: LrcnError | None = None
        self.done = False


class MultiStream:
    """Streams many sources through one model. Iterate `ticks()` (or the predictions); `close()` stops all.

    `sources` are (short name, FrameSource) pairs; names appear in every prediction.
    """

    def __init__(self, classifier, sources: list[tuple[str, FrameSource]], cfg: StreamConfig):
        meta = classifier.meta
        self.clf, self.cfg = classifier, cfg
        rate = meta.sample_fps if cfg.sample_fps is None else cfg.sample_fps
        self.sample_fps = rate if rate and rate > 0 else None
        self.engine = BatchEngine.for_model(classifier.model, cfg.stateful)
        self.cond = threading.Condition()
        self.slots: list[_Slot] = []
        for name, src in sources:
            box: Mailbox[Captured] = Mailbox(lossless=not getattr(src, "live", False), cond=self.cond)
            feeder = Feeder(src, meta.preprocess, self.sample_fps, cfg.realtime, box)
            keep = classifier.sampled_frames if cfg.keep_window else 0
            self.slots.append(_Slot(name, src, self.engine.new_state(meta.preprocess, cfg.smooth), feeder, keep))
        self._started = False

    def stats(self, i: int) -> StreamStats:
        return slot_stats(self.slots[i])

    def fps(self, i: int) -> float:
        """Stream i's processed frames per second so far (cheap: no percentiles)."""
        s = self.slots[i]
        if s.t0 is None:
            return 0.0
        seconds = (s.t_end if s.t_end is not None else time.perf_counter()) - s.t0
        return s.state.processed / seconds if seconds > 0 else 0.0

    def _start(self) -> None:
        if not self._started:
            self._started = True
            for s in self.slots:
                s.t0 = time.perf_counter()
                s.feeder.start()

    def ticks(self) -> Iterator[Tick]:
        self._start()
        while True:
            active = [s for s in self.slots if not s.done]
            if not active:
                return
            with self.cond:
                self.cond.wait_for(partial(_any_ready, active), timeout=WAIT_S)
                taken = [(s, s.feeder.mailbox.take()) for s in active]
                gone = [s for s, item in taken if item is None and s.feeder.mailbox.ended]
            batch = [(s, item) for s, item in taken if item is not None]
            ended = [self._end(s, s.feeder.mailbox.error) for s in gone]
            preds = self._advance(batch) if batch else []
            for s, _ in batch:
                if self.cfg.max_frames and s.state.processed >= self.cfg.max_frames and not s.done:
                    ended.append(self._end(s, None))
            if preds or ended:
                yield Tick(preds, ended)

    def __iter__(self) -> Iterator[StreamPrediction]:
        for tick in self.ticks():
            yield from tick.predictions

    def _advance(self, batch: list[tuple[_Slot, Captured]]) -> list[StreamPrediction]:
        t0 = time.perf_counter()
        xs = [s.state.frame_input(item.rgb, item.x) for s, item in batch]
        raws = self.engine.run([s.state for s, _ in batch], xs)
        wall, mono = time.time(), time.perf_counter()
        ms = (mono - t0) * 1e3
        return [self._prediction(s, item, raw, ms, wall, mono) for (s, item), raw in zip(batch, raws)]

    def _prediction(self, s: _Slot, item: Captured, raw, ms: float, wall: float, mono: float) -> StreamPrediction:
        st, fr = s.state, item.frame
        st.processed += 1
        latency = (mono - item.mono) * 1e3
        st.latencies_ms.append(latency)
        if s.window is not None:
            s.window.append(item.rgb)
        common: dict[str, Any] = {
            "index": st.processed - 1,
            "source_index": fr.index,
            "t": fr.t,
            "ms": ms,
            "frame": fr.image,
            "stream": s.name,
            "source": s.source.name,
            "captured": item.wall,
            "predicted": wall,
            "latency_ms": latency,
        }
        if raw is None:
            return StreamPrediction(probs=None, label=None, probability=None, top_k=[], uncertain=False, **common)
        probs = st.smoothed(raw)
        best = top_k(probs, self.clf.class_names, self.clf.k)
        st.predictions += 1
        window = np.stack(s.window) if s.window is not None else None
        return StreamPrediction(
            probs=probs,
            label=best[0][0],
            probability=best[0][1],
            top_k=best,
            uncertain=best[0][1] < self.cfg.threshold,
            window=window,
            **common,
        )

    def _end(self, s: _Slot, error) -> StreamEnd:
        s.done, s.t_end = True, time.perf_counter()
        s.feeder.stop()
        _close_source(s.source)
        if (
            error is None
            and not getattr(s.source, "live", False)
            and s.state.predictions == 0
            and not (self.cfg.max_frames and s.state.processed >= self.cfg.max_frames)
        ):
            error = VideoError(
                f"{s.source.name}: ended after {s.state.processed} sampled frames, before the window "
                f"of {self.engine.num_frames} filled (try --sample-fps 0, or clip mode)"
            )
        s.error = error
        return StreamEnd(s.name, self.stats(self.slots.index(s)), error)

    def close(self) -> list[StreamEnd]:
        """Stop every stream still running; every stream's end (running ones without error), in order."""
        closing = []
        for s in self.slots:
            if not s.done:
                s.done = True
                s.t_end = time.perf_counter()
                s.feeder.stop()
                closing.append(_close_source(s.source))
        for t in closing:
            t.join(timeout=3.0)
        return [StreamEnd(s.name, self.stats(i), s.error) for i, s in enumerate(self.slots)]

    def __enter__(self) -> MultiStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def slot_stats(s: _Slot) -> StreamStats:
    """One stream's counters and latency percentiles so far (also for a slot already removed)."""
    lat = np.asarray(s.state.latencies_ms) if s.state.latencies_ms else None
    end = s.t_end if s.t_end is not None else time.perf_counter()
    return StreamStats(
        read=s.source.read,
        processed=s.state.processed,
        predictions=s.state.predictions,
        seconds=end - s.t0 if s.t0 is not None else 0.0,
        reconnects=getattr(s.source, "reconnects", 0),
        due=s.feeder.due,
        latency_p50_ms=None if lat is None else float(np.percentile(lat, 50)),
        latency_p95_ms=None if lat is None else float(np.percentile(lat, 95)),
    )
