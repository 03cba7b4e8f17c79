"""`vc-serve --ray ADDRESS`: the service's streams run on Ray actors across a cluster; the head shows them all.

`ClusterManager` stands where `manager.StreamManager` stands for a local service: the API,
/metrics, the dashboard and `service.StreamEvents` read and drive it the same way. The streams
run in `serve.cluster.ClusterStreams` (one actor per node, failover onto the others); each
prediction record that comes back (with its probabilities) becomes a `StreamPrediction` for the
listeners, so events are detected on the head, by the same router and sinks as locally. A
stream record (`restarted` after its node was lost, or `failed` when it could not be moved) goes
to `on_record` (the history and the sinks); a restarted stream's open events end and its
detector starts afresh, as its LSTM state does. Frames stay on the nodes: frame.jpg answers 404.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from lrcn.core.text import printable
from lrcn.runtime.events import EventConfig
from lrcn.runtime.stream import StreamPrediction, StreamStats
from lrcn.serve.config import StreamSettings, checked_source, shown_source
from lrcn.serve.eventlog import EventLog
from lrcn.serve.manager import Entry, NotOnCluster, StreamLimit, StreamManager, recent_fps

log = logging.getLogger("lrcn.serve")

STALE_S = 5.0
"""A live stream with no prediction for this long shows `reconnecting` (its node's own state comes once a second)."""
STATS_FIELDS = ("read", "processed", "predictions", "seconds", "reconnects", "due", "latency_p50_ms", "latency_p95_ms")


@dataclass
class RemoteHandle:
    """What the head knows of a stream running on a node (the part of `StreamHandle` its listeners read)."""

    id: int
    name: str
    events: EventConfig | None
    live: bool = True
    node: str = ""


class ClusterManager:
    """Streams on a cluster; `streams_of(on_record)` makes the `ClusterStreams` (or a stand-in in tests)."""

    no_frames = "frames are not available on a cluster (vc-serve --ray): they stay on the node"

    def __init__(
        self,
        streams_of: Callable[[Callable[[dict], None]], Any],
        *,
        history: int = 1000,
        events: EventConfig | None = None,
    ):
        self.default_events = events or EventConfig()
        self.events = EventLog(history)
        self.entries: dict[str, Entry] = {}
        self.lock = threading.RLock()
        self.listeners: list[Callable[[Entry, StreamPrediction], None]] = []
        self.on_end: Callable[[Entry], None] | None = None
        self.on_record: Callable[[dict], object] = self.events.append
        """Stream records (restarted, failed): the service sends them to its history and sinks."""
        self.stopping = threading.Event()
        self.ids = 0
        self.cleanup = ExitStack()
        self.cluster = streams_of(self._record)
        self.watcher = threading.Thread(target=self._watch, name="serve:watch", daemon=True)

    @classmethod
    def connect(cls, address: str, spec: Any, *, history: int, events: EventConfig) -> ClusterManager:
        """Join (or start, `local`) the cluster at `address` (`runtime.ray_cluster`); left again by `close`."""
        from lrcn.runtime.ray_cluster import cluster
        from lrcn.serve.cluster import ClusterStreams

        stack = ExitStack()
        ray = stack.enter_context(cluster(address))
        try:
            self = cls(lambda on: ClusterStreams(ray, spec, on), history=history, events=events)
        except BaseException:
            stack.close()
            raise
        self.cleanup = stack
        return self

    def start(self) -> None:
        self.cluster.start()
        self.watcher.start()

    # -- streams -------------------------------------------------------------------------------
    def add(self, settings: StreamSettings, limit: int | None = None) -> Entry:
        """As `StreamManager.add`; zones are refused (NotOnCluster). The stream starts on a node in the background."""
        if settings.zones:
            raise NotOnCluster(f"stream {settings.name}: zones are not available on a cluster (vc-serve --ray)")
        with self.lock:
            if settings.name in self.entries:
                raise ValueError(f"a stream named {settings.name!r} exists already")
            if limit is not None and len(self.entries) >= limit:
                raise StreamLimit(f"{len(self.entries)} streams run already (max_streams {limit}); remove one first")
            entry = self.entries[settings.name] = Entry(settings)
        threading.Thread(target=self._open, args=(entry,), name=f"open:{settings.name}", daemon=True).start()
        log.info(
            "stream %s: starting on the cluster (%s)",
            settings.name,
            shown_source(settings.source),
            extra={"event": "stream_starting", "stream": settings.name},
        )
        return entry

    def _open(self, entry: Entry) -> None:
        s = entry.settings
        try:
            target = checked_source(s.source, from_api=False)
            node = self.cluster.add(s.name, str(target), s.stream_config())
        except Exception as e:  # noqa: BLE001 - one line, never a traceback from this thread
            self._failed(entry, printable(" ".join(str(e).split()))[:500] or type(e).__name__)
            return
        with self.lock:
            if entry.removed or self.stopping.is_set():
                removed = True
            else:
                removed = False
                entry.handle = self._handle(s, node)  # type: ignore[assignment]  # listeners read id, events, live
        if removed:
            self.cluster.remove(s.name)

    def _handle(self, s: StreamSettings, node: str) -> RemoteHandle:
        self.ids += 1
        events = s.events.config() if s.events is not None else self.default_events
        return RemoteHandle(self.ids, s.name, events, node=node)

    def _failed(self, entry: Entry, error: str) -> None:
        entry.error, entry.state = error, "failed"
        name = entry.settings.name
        log.warning("stream %s: failed: %s", name, error, extra={"event": "stream_failed", "stream": name})

    def remove(self, name: str) -> bool:
        with self.lock:
            entry = self.entries.pop(name, None)
            if entry is None:
                return False
            entry.removed = True
        self.cluster.remove(name)
        log.info("stream %s: removed", name, extra={"event": "stream_removed", "stream": name})
        return True

    def get(self, name: str) -> Entry | None:
        with self.lock:
            return self.entries.get(name)

    def list(self) -> list[Entry]:
        with self.lock:
            return list(self.entries.values())

    # -- records from the cluster --------------------------------------------------------------
    def _record(self, rec: dict) -> None:
        """ClusterStreams' poll thread: a prediction to the listeners, a stream record to `on_record`."""
        with self.lock:
            entry = self.entries.get(str(rec.get("stream", "")))
        if entry is None or entry.removed:
            return
        if rec.get("type") == "prediction":
            self._prediction(entry, rec)
        elif rec.get("type") == "stream":
            self._stream_record(entry, rec)

    def _prediction(self, entry: Entry, rec: dict) -> None:
        h = entry.handle
        if h is None or not rec.get("probs"):
            return
        pred = StreamPrediction(
            index=int(rec["index"]),
            source_index=int(rec.get("frame", rec["index"])),
            t=float(rec["t"]),
            probs=np.asarray(rec["probs"], dtype=np.float32),
            label=rec["label"],
            probability=rec["probability"],
            top_k=[],
            uncertain=bool(rec["uncertain"]),
            ms=float(rec.get("ms", 0.0)),
            frame=None,  # type: ignore[arg-type]  # frames stay on the node
            stream=entry.settings.name,
            stream_id=h.id,
            captured=float(rec.get("captured", 0.0)),
            latency_ms=float(rec.get("latency_ms", 0.0)),
        )
        now = time.perf_counter()
        entry.frame_index, entry.frame_mono, entry.last = pred.index, now, pred
        entry.times.append(now)
        for fn in self.listeners:
            try:
                fn(entry, pred)
            except Exception as e:  # noqa: BLE001 - a listener's bug must not stop the poll
                log.error("listener failed: %s: %s", type(e).__name__, e, extra={"event": "listener_error"})

    def _stream_record(self, entry: Entry, rec: dict) -> None:
        name, reason = entry.settings.name, printable(str(rec.get("reason", "")))
        if self.on_end is not None and entry.handle is not None:
            self.on_end(entry)  # its open events end: the LSTM state on the new node starts afresh
        if rec.get("phase") == "restarted":
            node = self.cluster.node_of(name) or ""
            with self.lock:
                entry.handle = self._handle(entry.settings, node)  # type: ignore[assignment]
                entry.frame_index, entry.last = -1, None
            log.warning("stream %s: restarted: %s", name, reason, extra={"event": "stream_restarted", "stream": name})
        elif rec.get("phase") == "failed":
            self._failed(entry, reason)
        self.on_record(rec)

    # -- state ---------------------------------------------------------------------------------
    def _state(self, e: Entry) -> str:
        h = e.handle
        if h is None or e.state == "failed":
            return "failed" if e.state == "failed" else "starting"
        st = self.cluster.stats_of(e.settings.name) or {}
        cast(RemoteHandle, h).live = bool(
            st.get("live", h.live)
        )  # a file on a node: its events get no wall-clock times
        if st.get("done"):
            return "failed" if st.get("error") else "ended"
        if st.get("reconnecting"):
            return "reconnecting"
        if e.frame_index < 0 or self.cluster.node_of(e.settings.name) != cast(RemoteHandle, h).node:
            return "starting"  # its window fills, or it is being moved to another node
        if st.get("live", True) and time.perf_counter() - e.frame_mono > STALE_S:
            return "reconnecting"
        return "running"

    def _watch(self) -> None:
        while not self.stopping.wait(0.2):
            for e in self.list():
                new = self._state(e)
                if new != e.state:
                    StreamManager._log_change(e, e.state, new)
                    e.state = new

    def fps(self, e: Entry) -> float:
        return recent_fps(e.times)

    def stats(self, e: Entry) -> StreamStats | None:
        st = self.cluster.stats_of(e.settings.name)
        return None if st is None else StreamStats(**{k: st[k] for k in STATS_FIELDS if k in st})

    def node(self, e: Entry) -> str | None:
        """The Ray node id the stream runs on."""
        return self.cluster.node_of(e.settings.name)

    def ready(self) -> bool:
        return all(e.state != "starting" for e in self.list())

    def close(self, timeout: float = 3.0) -> None:
        """Stop the poll, the actors and leave the cluster."""
        self.stopping.set()
        try:
            self.cluster.close()
        finally:
            self.cleanup.close()
        if self.watcher.is_alive():
            self.watcher.join(timeout=max(0.1, timeout))
