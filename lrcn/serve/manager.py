"""Streams that come and go while the service runs, on the batched multi-stream engine.

`LiveMulti` is `runtime.scheduler.MultiStream` whose slots are added and removed while its
inference loop runs (under the scheduler's own condition, so the loop sees a consistent
list; a removed slot's frame still in flight is dropped here, not shown). `StreamManager`
owns it: one thread runs the inference loop, one opens sources (a camera or URL may take
seconds: the stream shows `starting` meanwhile, the others go on), and a watcher derives each
stream's state (starting, running, reconnecting, failed, ended) and logs its changes.
What the API and the dashboard read is a snapshot per stream; the newest annotated frame is
JPEG-encoded on request (not per frame: a stream nobody watches costs nothing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from lrcn.core.errors import LrcnError
from lrcn.runtime.mailbox import Mailbox
from lrcn.runtime.scheduler import Feeder, MultiStream, StreamEnd, _close_source, _Slot, slot_stats
from lrcn.runtime.stream import StreamConfig, StreamPrediction, StreamStats
from lrcn.serve.config import StreamSettings
from lrcn.serve.eventlog import EventLog

log = logging.getLogger("lrcn.serve")

FPS_WINDOW_S = 5.0
"""fps is measured over the last few seconds (a service's fps now, not since it started)."""
OPEN_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)


class LiveMulti(MultiStream):
    """A MultiStream whose streams are added and removed while `ticks()` runs in another thread."""

    def __init__(self, classifier):
        super().__init__(classifier, [], StreamConfig(realtime=True))
        self._started = True  # each feeder starts when its stream is added

    def add(self, name: str, source, sample_fps: float | None, smooth: int) -> _Slot:
        meta = self.clf.meta
        rate = meta.sample_fps if sample_fps is None else sample_fps
        box = Mailbox(lossless=not getattr(source, "live", False), cond=self.cond)
        feeder = Feeder(source, meta.preprocess, rate if rate and rate > 0 else None, True, box)
        slot = _Slot(name, source, self.engine.new_state(meta.preprocess, smooth), feeder, 0)
        slot.t0 = time.perf_counter()
        with self.cond:
            self.slots.append(slot)
            self.cond.notify_all()
        feeder.start()
        return slot

    def remove(self, slot: _Slot) -> threading.Thread:
        """Take a stream out; its source closes in a helper thread (returned)."""
        with self.cond:
            if slot in self.slots:
                self.slots.remove(slot)
            slot.done = True
            slot.t_end = slot.t_end or time.perf_counter()
            self.cond.notify_all()
        slot.feeder.stop()
        return _close_source(slot.source)

    def _end(self, s: _Slot, error) -> StreamEnd:
        if s not in self.slots:  # removed while the loop held it: nobody waits for its end
            return StreamEnd(s.name, slot_stats(s), error)
        return super()._end(s, error)

    def _prediction(self, s: _Slot, item, raw, ms: float, wall: float, mono: float) -> StreamPrediction:
        pred = super()._prediction(s, item, raw, ms, wall, mono)
        pred.slot = s  # which stream generation it belongs to (a name can be removed and added again)
        return pred


@dataclass
class Entry:
    """One stream as the service sees it."""

    settings: StreamSettings
    state: str = "starting"
    error: str | None = None
    source: object | None = None
    slot: _Slot | None = None
    created: float = field(default_factory=time.time)
    last: StreamPrediction | None = None
    """Newest prediction with a label."""
    frame: np.ndarray | None = None
    frame_index: int = -1
    frame_mono: float = 0.0
    times: deque = field(default_factory=lambda: deque(maxlen=512))
    reconnects: int = 0
    events: int = 0
    jpeg: tuple[int, bytes] | None = None
    removed: bool = False


class StreamManager:
    """Adds, removes and watches streams; `on_prediction(entry, pred)` callbacks see every prediction."""

    def __init__(self, classifier, *, reconnect: int, timeout_s: float, history: int = 1000):
        self.clf = classifier
        self.multi = LiveMulti(classifier)
        self.reconnect, self.timeout_s = reconnect, timeout_s
        self.events = EventLog(history)
        self.entries: dict[str, Entry] = {}
        self.lock = threading.RLock()
        self.listeners: list = []
        """Callables (entry, StreamPrediction) run in the inference thread: metrics, events."""
        self.on_end = None
        """Called with a stream's name when its source ends or fails (events close)."""
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._infer, name="serve:infer", daemon=True),
            threading.Thread(target=self._watch, name="serve:watch", daemon=True),
        ]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    # -- streams -------------------------------------------------------------------------------
    def add(self, settings: StreamSettings) -> Entry:
        """Start a stream; ValueError if the name is taken. Opening happens in the background."""
        with self.lock:
            if settings.name in self.entries:
                raise ValueError(f"a stream named {settings.name!r} exists already")
            entry = self.entries[settings.name] = Entry(settings)
        threading.Thread(target=self._open, args=(entry,), name=f"open:{settings.name}", daemon=True).start()
        log.info(
            "stream %s: starting (%s)",
            settings.name,
            settings.source,
            extra={"event": "stream_starting", "stream": settings.name},
        )
        return entry

    def remove(self, name: str) -> bool:
        with self.lock:
            entry = self.entries.pop(name, None)
        if entry is None:
            return False
        entry.removed = True
        if entry.slot is not None:
            self.multi.remove(entry.slot)
        log.info("stream %s: removed", name, extra={"event": "stream_removed", "stream": name})
        return True

    def _open(self, entry: Entry) -> None:
        from lrcn.runtime.sources import is_live, open_source

        s, attempt = entry.settings, 0
        while not (entry.removed or self.stopping.is_set()):
            try:
                source = open_source(s.source, reconnect=self.reconnect, timeout_s=self.timeout_s)
                break
            except LrcnError as e:
                entry.error = str(e)
                if attempt >= min(self.reconnect, len(OPEN_BACKOFF_S)) or not is_live(s.source):
                    entry.state = "failed"
                    log.warning("stream %s: failed: %s", s.name, e, extra={"event": "stream_failed", "stream": s.name})
                    return
                self.stopping.wait(OPEN_BACKOFF_S[attempt])
                attempt += 1
        else:
            return
        with self.lock:
            if entry.removed or self.stopping.is_set():
                _close_source(source)
                return
            entry.source, entry.error = source, None
            entry.slot = self.multi.add(s.name, source, s.sample_fps, s.smooth)

    def get(self, name: str) -> Entry | None:
        with self.lock:
            return self.entries.get(name)

    def list(self) -> list[Entry]:
        with self.lock:
            return list(self.entries.values())

    # -- the inference loop --------------------------------------------------------------------
    def _infer(self) -> None:
        while not self.stopping.is_set():
            if not any(not s.done for s in list(self.multi.slots)):
                self.stopping.wait(0.05)
                continue
            try:
                for tick in self.multi.ticks():
                    for pred in tick.predictions:
                        self._on_prediction(pred)
                    for end in tick.ended:
                        self._on_end(end)
                    if self.stopping.is_set():
                        break
            except Exception as e:  # noqa: BLE001 - a service logs an inference failure and goes on
                log.error("inference failed: %s: %s", type(e).__name__, e, extra={"event": "inference_error"})
                self.stopping.wait(0.5)

    def _entry_of(self, slot) -> Entry | None:
        with self.lock:
            return next((e for e in self.entries.values() if e.slot is slot), None)

    def _on_prediction(self, pred: StreamPrediction) -> None:
        entry = self._entry_of(getattr(pred, "slot", None))
        if entry is None:
            return
        now = time.perf_counter()
        entry.frame, entry.frame_index, entry.frame_mono = pred.frame, pred.index, now
        entry.times.append(now)
        if pred.ready:
            entry.last = pred
        for fn in self.listeners:
            try:
                fn(entry, pred)
            except Exception as e:  # noqa: BLE001 - a listener's bug must not stop inference
                log.error("listener failed: %s: %s", type(e).__name__, e, extra={"event": "listener_error"})

    def _on_end(self, end: StreamEnd) -> None:
        with self.lock:
            entry = next(
                (e for e in self.entries.values() if e.slot is not None and e.slot.name == end.name and e.slot.done),
                None,
            )
        if entry is not None and end.error is not None:
            entry.error = str(end.error)
        if entry is not None and self.on_end is not None:
            self.on_end(entry.settings.name)

    # -- state ---------------------------------------------------------------------------------
    def _state(self, e: Entry) -> str:
        if e.state == "failed" and e.slot is None:
            return "failed"
        if e.slot is None:
            return "starting"
        if e.slot.done:
            return "failed" if e.error else "ended"
        live = getattr(e.source, "live", False)
        if live and getattr(e.source, "_cap", True) is None:  # LiveSource reopening after a drop
            return "reconnecting"
        rate = self.multi.clf.meta.sample_fps if e.settings.sample_fps is None else e.settings.sample_fps
        stale = max(2.0, 3.0 / rate) if rate else 2.0
        if e.frame_index < 0:
            return "starting"
        if live and time.perf_counter() - e.frame_mono > stale:
            return "reconnecting"
        return "running"

    def _watch(self) -> None:
        while not self.stopping.wait(0.2):
            for e in self.list():
                new = self._state(e)
                if new != e.state:
                    self._log_change(e, e.state, new)
                    e.state = new
                n = getattr(e.source, "reconnects", 0) if e.source is not None else 0
                if n > e.reconnects:
                    e.reconnects = n
                    log.info(
                        "stream %s: reconnected (%d so far)",
                        e.settings.name,
                        n,
                        extra={"event": "stream_reconnected", "stream": e.settings.name},
                    )

    @staticmethod
    def _log_change(e: Entry, old: str, new: str) -> None:
        name, extra = e.settings.name, {"event": f"stream_{new}", "stream": e.settings.name}
        if new == "running":
            log.info("stream %s: up%s", name, " again" if old == "reconnecting" else "", extra=extra)
        elif new == "reconnecting":
            log.warning("stream %s: down, reconnecting", name, extra=extra)
        elif new == "failed":
            log.warning("stream %s: failed: %s", name, e.error, extra=extra)
        elif new == "ended":
            log.info("stream %s: ended (the source ran out)", name, extra=extra)

    def fps(self, e: Entry) -> float:
        now = time.perf_counter()
        recent = [t for t in list(e.times) if now - t <= FPS_WINDOW_S]
        if len(recent) < 2:
            return 0.0
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6) if now - recent[-1] < FPS_WINDOW_S else 0.0

    def stats(self, e: Entry) -> StreamStats | None:
        return slot_stats(e.slot) if e.slot is not None else None

    def ready(self) -> bool:
        """Every stream has left `starting` (running, or failed in a way the API shows)."""
        return all(e.state != "starting" for e in self.list())

    def close(self, timeout: float = 3.0) -> None:
        """Stop every stream and the loop; returns within about `timeout` seconds."""
        self.stopping.set()
        deadline = time.monotonic() + timeout
        closing = [self.multi.remove(e.slot) for e in self.list() if e.slot is not None]
        for t in closing + self.threads:
            if t.is_alive():
                t.join(timeout=max(0.0, deadline - time.monotonic()))
