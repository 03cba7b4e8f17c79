"""Streams that come and go while the service runs, on the runtime's public stream API.

`StreamManager` owns one `runtime.scheduler.MultiStream` (streams are `add`ed and `remove`d
while its inference loop runs; a removed stream's frame in flight is dropped by it). One
thread runs the inference loop, one opens sources (a camera or URL may take seconds: the
stream shows `starting` meanwhile, the others go on), and a watcher derives each stream's
state (starting, running, reconnecting, failed, ended) from its `StreamHandle` and logs its
changes. What the API and the dashboard read is a snapshot per stream; the newest annotated
frame is JPEG-encoded on request (not per frame: a stream nobody watches costs nothing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from lrcn.core.errors import LrcnError
from lrcn.core.text import printable
from lrcn.runtime.events import EventConfig
from lrcn.runtime.frame_source import FrameSource
from lrcn.runtime.packets import RingConfig
from lrcn.runtime.scheduler import MultiStream, StreamEnd, StreamHandle, close_source
from lrcn.runtime.stream import StreamConfig, StreamPrediction, StreamStats
from lrcn.runtime.zones import Zone, split_zones
from lrcn.serve.config import StreamSettings, checked_source, shown_source
from lrcn.serve.eventlog import EventLog

log = logging.getLogger("lrcn.serve")

FPS_WINDOW_S = 5.0
"""fps is measured over the last few seconds (a service's fps now, not since it started)."""
OPEN_BACKOFF_S = (0.5, 1.0, 2.0, 5.0)


@dataclass
class Entry:
    """One stream as the service sees it."""

    settings: StreamSettings
    state: str = "starting"
    error: str | None = None
    source: FrameSource | None = None
    handle: StreamHandle | None = None
    """The stream in the MultiStream, once its source opened."""
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


class StreamLimit(Exception):
    """No stream is added: the service runs its `max_streams` already."""


class NotOnCluster(ValueError):
    """A stream setting the cluster's streams do not offer (zones: `vc-serve --ray`)."""


def recent_fps(times: deque) -> float:
    """Per second over the last FPS_WINDOW_S of `times` (perf_counter stamps, oldest first)."""
    now = time.perf_counter()
    recent = [t for t in list(times) if now - t <= FPS_WINDOW_S]
    if len(recent) < 2:
        return 0.0
    return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6) if now - recent[-1] < FPS_WINDOW_S else 0.0


class StreamManager:
    """Adds, removes and watches streams on one MultiStream; `listeners` see every prediction."""

    no_frames: str | None = None
    """Why a stream has no frame to show, where that is by design (None: frames are kept here)."""

    def __init__(
        self,
        classifier,
        *,
        reconnect: int,
        timeout_s: float,
        history: int = 1000,
        events: EventConfig | None = None,
    ):
        self.clf = classifier
        self.multi = MultiStream(classifier, cfg=StreamConfig(realtime=True))
        self.default_events = events or EventConfig()
        """A stream's EventConfig where its settings give none."""
        self.reconnect, self.timeout_s = reconnect, timeout_s
        self.packets: RingConfig | None = None
        """Event media copies clips: sources that can keep their H.264 packets do (`sources.open_source`)."""
        self.events = EventLog(history)
        self.entries: dict[str, Entry] = {}
        self.lock = threading.RLock()
        self.by_id: dict[int, Entry] = {}
        """StreamHandle.id -> its entry (a prediction names its stream by that id)."""
        self.listeners: list[Callable[[Entry, StreamPrediction], None]] = []
        """Run in the inference thread for every prediction: metrics, events."""
        self.on_end: Callable[[Entry], None] | None = None
        """Called when a stream's source ends or fails (its events close)."""
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._infer, name="serve:infer", daemon=True),
            threading.Thread(target=self._watch, name="serve:watch", daemon=True),
        ]

    def start(self) -> None:
        self.multi.start()
        for t in self.threads:
            t.start()

    # -- streams -------------------------------------------------------------------------------
    def add(self, settings: StreamSettings, limit: int | None = None) -> Entry:
        """Start a stream; ValueError if the name is taken, StreamLimit when `limit` streams run already.
        Opening happens in the background.

        With `settings.zones`, one entry per zone, named `name/zone`, each its own stream (predictions,
        events, stats) over one decode of the source; the first is returned, `remove(name)` removes all."""
        zones = settings.zone_list()
        subs = [settings.model_copy(update={"name": f"{settings.name}/{z.name}", "zones": None}) for z in zones]
        with self.lock:
            taken = [n for n in [settings.name, *(s.name for s in subs)] if n in self.entries or self._zoned(n)]
            if taken:
                raise ValueError(f"a stream named {taken[0]!r} exists already")
            if limit is not None and len(self.entries) + max(1, len(subs)) > limit:
                raise StreamLimit(f"{len(self.entries)} streams run already (max_streams {limit}); remove one first")
            entries = [Entry(s) for s in subs] or [Entry(settings)]
            for e in entries:
                self.entries[e.settings.name] = e
        entry = entries[0]
        if zones:
            args: tuple = (entries, zones)
            threading.Thread(target=self._open_zones, args=args, name=f"open:{settings.name}", daemon=True).start()
        else:
            threading.Thread(target=self._open, args=(entry,), name=f"open:{settings.name}", daemon=True).start()
        log.info(
            "stream %s: starting (%s)",
            settings.name,
            shown_source(settings.source),  # never a URL's password or query, never a forged log line
            extra={"event": "stream_starting", "stream": settings.name},
        )
        return entry

    def _zoned(self, name: str) -> list[str]:
        """The zone streams (`name/zone`) of a stream added with zones."""
        return [n for n in self.entries if n.startswith(name + "/")]

    def remove(self, name: str) -> bool:
        with self.lock:
            zoned = [] if name in self.entries else self._zoned(name)
        if zoned:  # a stream added with zones: all of them (its source closes with the last)
            return all([self.remove(n) for n in zoned])
        with self.lock:  # with _open's check under the same lock: a stream opening now is never left running
            entry = self.entries.pop(name, None)
            if entry is None:
                return False
            entry.removed = True
            handle = entry.handle
            if handle is not None:
                self.by_id.pop(handle.id, None)
        if handle is not None:
            self.multi.remove(handle)
        log.info("stream %s: removed", name, extra={"event": "stream_removed", "stream": name})
        return True

    def _open(self, entry: Entry) -> None:
        """Open the stream's source (retrying a live one) and add it; any error marks it failed in one line."""
        try:
            self._open_and_add(entry)
        except Exception as e:  # noqa: BLE001 - never a traceback from this thread, never stuck in `starting`
            self._failed(entry, e if isinstance(e, LrcnError) else f"{type(e).__name__}: {e}")

    def _failed(self, entry: Entry, error: object) -> None:
        name = entry.settings.name
        entry.error = printable(" ".join(str(error).split()))
        entry.state = "failed"
        log.warning("stream %s: failed: %s", name, entry.error, extra={"event": "stream_failed", "stream": name})

    def _open_source(self, entry: Entry, others: Sequence[Entry] = ()) -> FrameSource | None:
        """The stream's source opened (a live one retried), or None: failed (`entry` and `others` marked) or removed."""
        from lrcn.runtime.sources import is_url, open_source

        s, attempt = entry.settings, 0
        target = checked_source(s.source, from_api=False)  # digits open camera N, never a file named N
        live = isinstance(target, int) or is_url(target)
        while not (entry.removed or self.stopping.is_set()):
            try:
                return open_source(target, reconnect=self.reconnect, timeout_s=self.timeout_s, packets=self.packets)
            except LrcnError as e:
                entry.error = printable(" ".join(str(e).split()))
                if attempt >= min(self.reconnect, len(OPEN_BACKOFF_S)) or not live:
                    for x in (entry, *others):
                        self._failed(x, e)
                    return None
                self.stopping.wait(OPEN_BACKOFF_S[attempt])
                attempt += 1
        return None

    def _open_zones(self, entries: list[Entry], zones: list[Zone]) -> None:
        """Open the source once and add a stream per zone (`zones.split_zones`); errors mark every zone failed."""
        try:
            source = self._open_source(entries[0], entries[1:])
            if source is None:
                return
            for entry, zone_source in zip(entries, split_zones(source, zones), strict=True):
                self._add_opened(entry, zone_source)
        except Exception as e:  # noqa: BLE001 - never a traceback from this thread, never stuck in `starting`
            for entry in entries:
                self._failed(entry, e if isinstance(e, LrcnError) else f"{type(e).__name__}: {e}")

    def _open_and_add(self, entry: Entry) -> None:
        source = self._open_source(entry)
        if source is not None:
            self._add_opened(entry, source)

    def _add_opened(self, entry: Entry, source: FrameSource) -> None:
        s = entry.settings
        with self.lock:
            if entry.removed or self.stopping.is_set():
                close_source(source)
                return
            try:
                events = s.events.config() if s.events is not None else self.default_events
                entry.handle = self.multi.add(s.name, source, s.stream_config(), events)
            except Exception:
                close_source(source)
                raise
            entry.source, entry.error = source, None
            self.by_id[entry.handle.id] = entry

    def get(self, name: str) -> Entry | None:
        with self.lock:
            return self.entries.get(name)

    def list(self) -> list[Entry]:
        with self.lock:
            return list(self.entries.values())

    # -- the inference loop --------------------------------------------------------------------
    def _infer(self) -> None:
        while not self.stopping.is_set():
            if not self.multi.running:
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

    def _on_prediction(self, pred: StreamPrediction) -> None:
        with self.lock:
            entry = self.by_id.get(pred.stream_id)
        if entry is None or entry.removed:
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
            entry = self.by_id.get(end.stream_id)
        if entry is None or entry.removed:
            return
        if end.error is not None:
            entry.error = printable(" ".join(str(end.error).split()))
        if self.on_end is not None:
            self.on_end(entry)

    # -- state ---------------------------------------------------------------------------------
    def _state(self, e: Entry) -> str:
        h = e.handle
        if h is None:
            return "failed" if e.state == "failed" else "starting"
        if h.done:
            return "failed" if e.error else "ended"
        if h.reconnecting:
            return "reconnecting"
        if e.frame_index < 0:
            return "starting"
        stale = max(2.0, 3.0 / h.sample_fps) if h.sample_fps else 2.0
        if h.live and time.perf_counter() - e.frame_mono > stale:
            return "reconnecting"
        return "running"

    def _watch(self) -> None:
        while not self.stopping.wait(0.2):
            for e in self.list():
                new = self._state(e)
                if new != e.state:
                    self._log_change(e, e.state, new)
                    e.state = new
                n = e.handle.reconnects if e.handle is not None else 0
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
        return recent_fps(e.times)

    def node(self, e: Entry) -> str | None:
        """The cluster node a stream runs on: none, here (see `cluster_manager.ClusterManager`)."""
        return None

    def stats(self, e: Entry) -> StreamStats | None:
        return e.handle.stats() if e.handle is not None else None

    def ready(self) -> bool:
        """Every stream has left `starting` (running, or failed in a way the API shows)."""
        return all(e.state != "starting" for e in self.list())

    def close(self, timeout: float = 3.0) -> None:
        """Stop every stream and the loop; returns within about `timeout` seconds."""
        self.stopping.set()
        deadline = time.monotonic() + timeout
        closing = [self.multi.remove(e.handle) for e in self.list() if e.handle is not None]
        for t in closing + self.threads:
            if t.is_alive():
                t.join(timeout=max(0.0, deadline - time.monotonic()))
