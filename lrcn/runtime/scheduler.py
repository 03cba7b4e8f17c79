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

Public API: `MultiStream` (`add`, `remove`, `ticks`, `close`), `StreamHandle` (one stream: its
name, id, settings, stats and health), `Tick`, `StreamEnd`; vc-run, vc-serve and vc-bench use it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from lrcn.core.errors import LrcnError, SourceError, VideoError
from lrcn.runtime.decode import StopFlag, start_owned
from lrcn.runtime.engine import BatchEngine, StreamState
from lrcn.runtime.events import EventConfig
from lrcn.runtime.frame_source import FrameSource
from lrcn.runtime.mailbox import Mailbox
from lrcn.runtime.motion import MotionGate, gating_off, thumbnail
from lrcn.runtime.preprocess import PreprocessSpec, normalize, resize_rgb
from lrcn.runtime.rect import crop
from lrcn.runtime.roi import analysis_grey, work_size
from lrcn.runtime.stream import StreamConfig, StreamPrediction, StreamStats, top_k
from lrcn.runtime.streamlist import short_name

if TYPE_CHECKING:
    from lrcn.runtime.sources import Frame

WAIT_S = 0.25
"""The loop wakes at least this often (KeyboardInterrupt, end of all streams)."""
LATE_S = 0.1
"""A file played in real time that falls this far behind its clock resets the clock."""

log = logging.getLogger(__name__)


@dataclass
class Captured:
    frame: Frame
    rgb: np.ndarray
    """Resized RGB, the model's input size (`roi.work_size` for a zoomed model: it cuts the window later)."""
    x: np.ndarray | None
    """The same normalised (3, H, W) float32, as `preprocess.normalize` makes it (None for a zoomed model)."""
    wall: float
    """time.time() when the feeder got the frame (the capture, as seen by lrcn)."""
    mono: float
    """time.perf_counter() at the same moment, for latency."""
    thumb: np.ndarray | None = None
    """Motion gating: the frame's grey thumbnail (`motion.thumbnail`), made here beside inference."""
    spec: PreprocessSpec | None = None
    """The preprocessing `x` was made with (a frame made for a model swapped out since is dropped)."""
    grey: np.ndarray | None = None
    """A zoomed model: `roi.analysis_grey(rgb)`, what its window's box compares, made here beside inference."""


class Feeder:
    """Reads one source in a daemon thread: sampling grid, optional real-time pacing, resize, mailbox."""

    def __init__(
        self,
        source: FrameSource,
        spec: PreprocessSpec,
        sample_fps: float | None,
        realtime: bool,
        mailbox: Mailbox[Captured],
        motion_size: int | None = None,
    ):
        self.source, self.spec, self.mailbox = source, spec, mailbox
        self.motion_size = motion_size
        """Motion gating: the thumbnail side to make for each sampled frame (None: not gated)."""
        self.sample_fps = sample_fps
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
                spec = self.spec  # one spec per frame: `MultiStream.swap` may change it meanwhile
                rgb = resize_rgb(  # here, not in the loop: beside inference
                    fr.image, work_size(spec.img_size, spec.zoomed), spec.region
                )
                motion = self.motion_size
                # the model's region only: what moves outside it (the road) does not wake the encoder
                thumb = thumbnail(crop(fr.image, spec.region), motion) if motion else None
                zoomed = spec.zoomed is not None
                x = None if zoomed else normalize(rgb[None], spec)[0]
                item = Captured(fr, rgb, x, wall, mono, thumb, spec, analysis_grey(rgb) if zoomed else None)
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


def _unchanged(h: StreamHandle, item: Captured) -> bool:
    """Motion gating's decision for this frame (False: run the encoder)."""
    return h.gate is not None and item.thumb is not None and not h.gate.changed_thumb(item.thumb)


def _any_ready(handles: list[StreamHandle]) -> bool:
    return any(h.feeder.mailbox.pending or h.feeder.mailbox.closed for h in handles)


def close_source(source: FrameSource) -> threading.Thread:
    """Close in a helper thread (returned): a live source's close may wait for a blocked read.

    The thread is owned (`decode.start_owned`), so a process that exits without waiting for it
    (`MultiStream.close(wait=False)`) still lets it finish a release within decode.JOIN_S first."""
    asked = StopFlag()
    asked.set()  # nothing to stop: it ends once the source has closed; the exit's bound counts from now
    return start_owned(source.close, f"close:{source.name}", asked)


@dataclass
class StreamEnd:
    """A stream that left the loop: ran out, failed, or was stopped by max_frames."""

    name: str
    stats: StreamStats
    error: LrcnError | None
    stream_id: int = -1
    """The ended stream's `StreamHandle.id`."""


@dataclass
class Tick:
    """What one pass of the loop produced: a prediction per stream in the batch, and the streams that ended."""

    predictions: list[StreamPrediction]
    ended: list[StreamEnd]


class StreamHandle:
    """One stream of a `MultiStream`, as `MultiStream.add` returns it; pass it to `MultiStream.remove`.

    `id` is unique within its MultiStream (a name can be removed and added again; the id is new),
    and every prediction carries it (`StreamPrediction.stream_id`, beside `.stream`, the name).
    `cfg` and `events` are the stream's own settings; `sample_fps` the rate it is fed at (the
    model's training rate unless `cfg.sample_fps` says otherwise; None: every frame).
    """

    def __init__(
        self,
        id: int,
        name: str,
        source: FrameSource,
        cfg: StreamConfig,
        events: EventConfig | None,
        state: StreamState,
        feeder: Feeder,
        keep: int,
        gate: MotionGate | None = None,
    ):
        self.id, self.name, self.source, self.cfg, self.events = id, name, source, cfg, events
        self.state, self.feeder = state, feeder
        self.gate = gate
        """Motion gating's per-frame test (None: this stream is not gated); decided in the loop, so its
        reference is always the last frame the encoder saw."""
        self.sample_fps = feeder.sample_fps
        self.window: deque | None = deque(maxlen=keep) if keep else None
        self.t0: float | None = None
        self.t_end: float | None = None
        self.error: LrcnError | None = None
        """Why the stream ended, once it did (None: it ran out, was stopped, or still runs)."""
        self.done = False
        """Out of the loop: ended, failed, removed or closed."""
        self.removed = False

    @property
    def live(self) -> bool:
        """A camera or URL (newest frame only), not a file."""
        return bool(getattr(self.source, "live", False))

    @property
    def reconnecting(self) -> bool:
        """A live source reopening after a drop (`LiveSource.reconnecting`); False for files."""
        return bool(getattr(self.source, "reconnecting", False))

    @property
    def reconnects(self) -> int:
        """Successful reopens of a live source so far."""
        return int(getattr(self.source, "reconnects", 0))

    def stats(self) -> StreamStats:
        """Counters and latency percentiles so far (also once the stream ended or was removed)."""
        lat = np.asarray(self.state.latencies_ms) if self.state.latencies_ms else None
        end = self.t_end if self.t_end is not None else time.perf_counter()
        return StreamStats(
            read=self.source.read,
            processed=self.state.processed,
            predictions=self.state.predictions,
            seconds=end - self.t0 if self.t0 is not None else 0.0,
            reconnects=self.reconnects,
            due=self.feeder.due,
            latency_p50_ms=None if lat is None else float(np.percentile(lat, 50)),
            latency_p95_ms=None if lat is None else float(np.percentile(lat, 95)),
            gated=None if self.gate is None else self.state.gated,
        )

    def fps(self) -> float:
        """Processed frames per second since the stream started (cheap: no percentiles)."""
        if self.t0 is None:
            return 0.0
        seconds = (self.t_end if self.t_end is not None else time.perf_counter()) - self.t0
        return self.state.processed / seconds if seconds > 0 else 0.0

    def _stop(self) -> threading.Thread:
        self.done = True
        self.t_end = self.t_end or time.perf_counter()
        self.feeder.stop()
        return close_source(self.source)


class MultiStream:
    """Streams many sources through one model. Iterate `ticks()` (or the predictions); `close()` stops all.

    `sources` are (short name, FrameSource) pairs, all with `cfg`; names appear in every
    prediction. Streams can also be added and removed while `ticks()` runs in another thread:

        multi = MultiStream(clf)                      # no stream yet
        door = multi.add("door", source, StreamConfig(threshold=0.6), EventConfig(min_event=2))
        multi.start()                                 # feeders of streams added later start at once
        for tick in multi.ticks(): ...                # returns when no stream is left running
        multi.remove(door)                            # its frame in flight is dropped, not predicted

    One engine serves every stream, so `stateful` is the MultiStream's (`cfg.stateful`); each
    stream's other settings (sample_fps, smooth, threshold, max_frames, realtime, keep_window)
    are its own.
    """

    def __init__(self, classifier, sources: Sequence[tuple[str, FrameSource]] = (), cfg: StreamConfig | None = None):
        cfg = StreamConfig() if cfg is None else cfg
        self.clf, self.cfg = classifier, cfg
        self.sample_fps = self.rate(cfg)
        """The rate of streams on `cfg` (see `rate`)."""
        self.engine = BatchEngine.for_model(classifier.model, cfg.stateful)
        self.cond = threading.Condition()
        self.handles: list[StreamHandle] = []
        """Streams added and not removed, in order (ended ones too)."""
        self._ids = 0
        self._started = False
        self._model_lock = threading.Lock()
        """Held by `ticks()` from taking frames to their predictions; `swap` takes it between two ticks."""
        for name, src in sources:
            self.add(name, src, cfg)

    def rate(self, cfg: StreamConfig) -> float | None:
        """Frames fed per second of source time for `cfg`: its sample_fps, else the model's; None: every frame."""
        rate = self.clf.meta.sample_fps if cfg.sample_fps is None else cfg.sample_fps
        return rate if rate and rate > 0 else None

    def add(
        self, name: str, source: FrameSource, cfg: StreamConfig | None = None, events: EventConfig | None = None
    ) -> StreamHandle:
        """Add a stream (settings `cfg`, default the MultiStream's); its capture starts now if the loop did.

        `events` is stored with the stream for whoever routes its events (`run_events.EventRouter`).
        Safe while `ticks()` runs in another thread. ValueError if `cfg.stateful` differs from the
        MultiStream's (one engine serves all streams).
        """
        cfg = self.cfg if cfg is None else cfg
        if cfg.stateful != self.cfg.stateful:
            raise ValueError(f"stateful must be {self.cfg.stateful} for every stream of this MultiStream")
        box: Mailbox[Captured] = Mailbox(lossless=not getattr(source, "live", False), cond=self.cond)
        with self._model_lock, self.cond:  # not half before and half after a swap
            meta = self.clf.meta
            gate = self._gate(name, cfg)
            feeder = Feeder(source, meta.preprocess, self.rate(cfg), cfg.realtime, box, gate.cfg.size if gate else None)
            keep = self.clf.sampled_frames if cfg.keep_window else 0
            state = self.engine.new_state(meta.preprocess, cfg.smooth)
            handle = StreamHandle(self._ids, name, source, cfg, events, state, feeder, keep, gate)
            self._ids += 1
            self.handles.append(handle)
            if self._started:
                handle.t0 = time.perf_counter()
                feeder.start()
            self.cond.notify_all()
        return handle

    def _gate(self, name: str, cfg: StreamConfig) -> MotionGate | None:
        spec = self.clf.meta.preprocess
        why = gating_off(cfg.motion, self.engine.stateful, spec.modality, spec.zoom)
        if why:  # off, not refused: a stream runs ungated rather than not at all (a model swap can cause it)
            log.warning("stream %s: motion gating off: %s", name, why)
            return None
        return MotionGate(cfg.motion) if cfg.motion else None

    def remove(self, handle: StreamHandle) -> threading.Thread:
        """Take a stream out (its end is not reported by `ticks()`); its source closes in the thread returned."""
        with self.cond:
            if handle in self.handles:
                self.handles.remove(handle)
            handle.removed = True
            self.cond.notify_all()
        return handle._stop()

    def swap(self, classifier) -> list[StreamHandle]:
        """Serve every stream with `classifier` from the next tick on; the streams it reset, in order.

        The new engine is made (its parts loaded) before any lock; then, between two ticks (the
        batch in flight finishes on the old model), the model changes in one step and each
        stream's state starts afresh (feature window, LSTM state, smoothing, kept frames): the
        old model's features or LSTM state mean nothing to other weights. Sources and feeders
        stay as they are; feeders preprocess for the new model from their next frame, and a
        frame already made for the old preprocessing is dropped, not predicted.
        """
        engine = BatchEngine.for_model(classifier.model, self.cfg.stateful)
        spec = classifier.meta.preprocess
        with self._model_lock, self.cond:
            self.clf, self.engine = classifier, engine
            self.sample_fps = self.rate(self.cfg)
            for h in self.handles:
                old, h.state = h.state, engine.new_state(spec, h.cfg.smooth)
                h.state.processed, h.state.predictions = old.processed, old.predictions  # counters go on
                h.state.latencies_ms, h.state.gated = old.latencies_ms, old.gated
                h.gate = self._gate(h.name, h.cfg)  # a fresh reference; the new model may not allow gating
                h.feeder.motion_size = h.gate.cfg.size if h.gate else None
                rate = self.rate(h.cfg)
                h.feeder.spec, h.feeder.sample_fps, h.sample_fps = spec, rate, rate
                h.feeder.period = 1.0 / rate if rate else 0.0
                if h.window is not None:
                    h.window = deque(maxlen=classifier.sampled_frames)
            self.cond.notify_all()
            return list(self.handles)

    @property
    def running(self) -> bool:
        """Some stream has not ended yet (`ticks()` would wait for it)."""
        with self.cond:
            return any(not h.done for h in self.handles)

    def stats(self, i: int) -> StreamStats:
        return self.handles[i].stats()

    def fps(self, i: int) -> float:
        """Stream i's processed frames per second so far (cheap: no percentiles)."""
        return self.handles[i].fps()

    def start(self) -> None:
        """Start every stream's capture (`ticks()` does it too); streams added later start when added."""
        with self.cond:
            if self._started:
                return
            self._started = True
            for h in self.handles:
                h.t0 = time.perf_counter()
                h.feeder.start()

    def ticks(self) -> Iterator[Tick]:
        self.start()
        while True:
            with self.cond:
                active = [h for h in self.handles if not h.done]
                if not active:
                    return
                self.cond.wait_for(partial(_any_ready, active), timeout=WAIT_S)
            with self._model_lock:  # one model from taking the frames to their predictions
                with self.cond:
                    active = [h for h in self.handles if not h.done]
                    taken = [(h, h.feeder.mailbox.take()) for h in active]
                    gone = [h for h, item in taken if item is None and h.feeder.mailbox.ended]
                spec = self.clf.meta.preprocess
                batch = [(h, item) for h, item in taken if item is not None and item.spec in (None, spec)]
                ends = [self._end(h, h.feeder.mailbox.error) for h in gone]
                preds = self._advance(batch) if batch else []
                for h, _ in batch:
                    if h.cfg.max_frames and h.state.processed >= h.cfg.max_frames and not h.done:
                        ends.append(self._end(h, None))
                preds = [p for p, (h, _) in zip(preds, batch) if not h.removed]  # removed while in flight
            ended = [e for e in ends if e is not None]
            if preds or ended:
                yield Tick(preds, ended)

    def __iter__(self) -> Iterator[StreamPrediction]:
        for tick in self.ticks():
            yield from tick.predictions

    def _advance(self, batch: list[tuple[StreamHandle, Captured]]) -> list[StreamPrediction]:
        t0 = time.perf_counter()
        xs = [h.state.frame_input(item.rgb, item.x, item.grey) for h, item in batch]
        gated = [_unchanged(h, item) for h, item in batch]
        before = [h.state.gated for h, _ in batch]
        raws = self.engine.run([h.state for h, _ in batch], xs, gated if any(gated) else None)
        wall, mono = time.time(), time.perf_counter()
        ms = (mono - t0) * 1e3
        preds = [self._prediction(h, item, raw, ms, wall, mono) for (h, item), raw in zip(batch, raws)]
        for p, (h, _), n in zip(preds, batch, before):
            if h.gate is not None:
                p.gated = h.state.gated > n
        return preds

    def _prediction(
        self, h: StreamHandle, item: Captured, raw, ms: float, wall: float, mono: float
    ) -> StreamPrediction:
        st, fr = h.state, item.frame
        st.processed += 1
        latency = (mono - item.mono) * 1e3
        st.latencies_ms.append(latency)
        if h.window is not None:
            h.window.append(item.rgb)
        common: dict[str, Any] = {
            "index": st.processed - 1,
            "source_index": fr.index,
            "t": fr.t,
            "ms": ms,
            "frame": fr.image,
            "stream": h.name,
            "stream_id": h.id,
            "source": h.source.name,
            "packets": getattr(h.source, "packets", None),
            "captured": item.wall,
            "predicted": wall,
            "latency_ms": latency,
        }
        if raw is None:
            return StreamPrediction(probs=None, label=None, probability=None, top_k=[], uncertain=False, **common)
        probs = st.smoothed(raw)
        best = top_k(probs, self.clf.class_names, self.clf.k)
        st.predictions += 1
        window = np.stack(h.window) if h.window is not None else None
        return StreamPrediction(
            probs=probs,
            label=best[0][0],
            probability=best[0][1],
            top_k=best,
            uncertain=best[0][1] < h.cfg.threshold,
            window=window,
            **common,
        )

    def _end(self, h: StreamHandle, error) -> StreamEnd | None:
        if h.removed:  # removed while the loop held it: nobody waits for its end
            return None
        h._stop()
        if (
            error is None
            and not h.live
            and h.state.predictions == 0
            and not (h.cfg.max_frames and h.state.processed >= h.cfg.max_frames)
        ):
            error = VideoError(
                f"{h.source.name}: ended after {h.state.processed} sampled frames, before the window "
                f"of {self.engine.num_frames} filled (try --sample-fps 0, or clip mode)"
            )
        h.error = error
        return StreamEnd(h.name, h.stats(), error, h.id)

    def close(self, wait: bool = True) -> list[StreamEnd]:
        """Stop every stream still running; every stream's end (running ones without error), in order.

        `wait=False` returns without waiting for the sources to close (a live one's read may take
        `decode.JOIN_S` to leave OpenCV): for a process about to exit, so that its last work (flushing
        sinks) overlaps that wait; its exit (`decode.stop_owned`) waits within the same bound.
        """
        with self.cond:
            handles = list(self.handles)
        closing = [h._stop() for h in handles if not h.done]
        for t in closing if wait else ():
            t.join(timeout=3.0)
        return [StreamEnd(h.name, h.stats(), h.error, h.id) for h in handles]

    def __enter__(self) -> MultiStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Stream:
    """One source on the batched engine. Iterate for StreamPredictions; `stats` at any time;
    `close()` (or `with`) stops the source. A source that fails raises its error (an LrcnError)
    from the iteration, after the predictions made before it.
    """

    def __init__(self, classifier, source, cfg: StreamConfig, name: str | None = None):
        self.source, self.cfg = source, cfg
        self._multi = MultiStream(classifier, [(name or short_name(source.name), source)], cfg)
        self.sample_fps = self._multi.sample_fps

    @property
    def stats(self) -> StreamStats:
        return self._multi.stats(0)

    def __iter__(self):
        for tick in self._multi.ticks():
            yield from tick.predictions
            for end in tick.ended:
                if end.error is not None:
                    raise end.error

    def close(self) -> None:
        self._multi.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
