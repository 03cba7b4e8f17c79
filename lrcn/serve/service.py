"""The running service: model, stream manager, event history, sinks and metrics, started and stopped as one.

`Service(cfg).start()` loads the model (before the HTTP server answers /ready), opens the
sinks, and adds the configured streams; `close(timeout)` stops the streams and flushes the
sinks within the bound. The API (`serve.api`) only reads and drives this object.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lrcn.core.text import printable
from lrcn.runtime.event_media import EventMedia
from lrcn.runtime.run_events import EventRouter
from lrcn.runtime.sinks import Sink
from lrcn.runtime.stream import StreamPrediction
from lrcn.serve.config import ServeConfig, StreamSettings
from lrcn.serve.manager import Entry, StreamManager
from lrcn.serve.metrics import ServeMetrics, sink_counts
from lrcn.serve.reload import ModelInfo, SwapRefused, allowed_path, contract_change

if TYPE_CHECKING:
    from lrcn.runtime.classifier import VideoClassifier
    from lrcn.serve.cluster_manager import ClusterManager

log = logging.getLogger("lrcn.serve")

ENDED_KEPT = 100
"""Ended events each stream's detector keeps (the service's history is `EventLog`'s, bounded by `history`);
a stream that runs for months makes events without end."""


class StreamEvents:
    """A StreamManager listener: each stream's predictions through its own `run_events.EventRouter`
    (the stream's EventConfig, the service's sinks; prediction records too, to sinks that want
    them); every event record it makes is also kept in the history (/events)."""

    def __init__(
        self,
        labels: Sequence[str],
        sinks: list[Sink],
        history: Callable[[dict], object],
        media: EventMedia | None = None,
    ):
        self.labels, self.sinks, self.history, self.media = labels, sinks, history, media
        self.routers: dict[int, EventRouter] = {}
        """StreamHandle.id -> the stream's router (a name removed and added again gets a new one)."""
        self.lock = threading.Lock()

    def __call__(self, entry: Entry, pred: StreamPrediction) -> None:
        h = entry.handle
        if h is None:
            return
        if pred.probs is None:  # the window is filling: no prediction yet, but the frame may open a clip
            if self.media is not None and pred.frame is not None:
                with self.lock:
                    self.media.frame(entry.settings.name, pred.t, pred.frame, None, pred.packets)
            return
        if len(pred.probs) != len(self.labels):
            return  # a prediction of a model swapped in or out while the labels change
        with self.lock:
            router = self.routers.get(h.id)
            if router is None:
                router = self.routers[h.id] = EventRouter(
                    self.labels,
                    h.events,
                    self.sinks,
                    keep_events=ENDED_KEPT,
                    annotate=self.media.annotate if self.media is not None else None,
                )
            records = router.prediction(pred, stream=entry.settings.name, live=h.live)
            if self.media is not None and pred.frame is not None:  # after: an end has set its clip's end
                self.media.frame(entry.settings.name, pred.t, pred.frame, pred.probs, pred.packets)
        for r in records:
            self.history(r)

    def finish(self, entry: Entry) -> None:
        """The stream ended or was removed: its open events end."""
        with self.lock:
            router = self.routers.pop(entry.handle.id, None) if entry.handle is not None else None
            records = router.end(entry.settings.name) if router is not None else []
        for r in records:
            self.history(r)

    def finish_all(self, entries: list[Entry]) -> None:
        for e in entries:
            self.finish(e)

    def relabel(self, labels: Sequence[str], entries: list[Entry]) -> None:
        """A new model serves: every stream's open events end and its detector starts afresh on `labels`."""
        self.finish_all(entries)
        with self.lock:
            self.labels = labels
            if self.media is not None:  # a clip's probability is read at its label's index
                self.media.labels = list(labels)


class Service:
    def __init__(self, cfg: ServeConfig):
        self.cfg = cfg
        self.sinks: list[Sink] = []
        self.media: EventMedia | None = None
        """Event clips and snapshots (the `media` setting), or None."""
        self.classify_slots = threading.BoundedSemaphore(cfg.http.classify_workers)
        self.started_at = time.time()
        self._sink_failed: dict[str, int] = {}
        self._clf: VideoClassifier | None = None
        self._manager: StreamManager | ClusterManager | None = None
        self._metrics: ServeMetrics | None = None
        self._events: StreamEvents | None = None
        self.model_info: ModelInfo | None = None
        """The model served now (path, sha256, version)."""
        self.swaps = 0
        self._swap_lock = threading.Lock()
        """One swap at a time (a second waits for the first)."""

    @property
    def loaded(self) -> bool:
        """The model is loaded and the streams' manager runs (`start` returned)."""
        return self._manager is not None

    @property
    def clf(self) -> VideoClassifier:
        if self._clf is None:
            raise RuntimeError("the service has not started")
        return self._clf

    @property
    def manager(self) -> StreamManager | ClusterManager:
        if self._manager is None:
            raise RuntimeError("the service has not started")
        return self._manager

    @property
    def metrics(self) -> ServeMetrics:
        if self._metrics is None:
            raise RuntimeError("the service has not started")
        return self._metrics

    @property
    def events(self) -> StreamEvents:
        if self._events is None:
            raise RuntimeError("the service has not started")
        return self._events

    def start(self) -> Service:
        from lrcn.runtime.classifier import VideoClassifier  # onnxruntime: not for `vc-serve --help`

        cfg = self.cfg
        self.sinks[:] = open_sinks(cfg.sinks)  # first: a bad sink fails before the model loads
        clf = self._clf = VideoClassifier(
            cfg.model,
            device=cfg.device,
            threads=cfg.threads,
            top_k=cfg.top_k,
            decode_timeout_s=cfg.http.upload_decode_timeout,  # predict() is for uploads only here
        )
        self.model_info = ModelInfo.of(cfg.model, clf.meta)
        log.info(
            "model %s loaded (%s, sha256 %s)",
            cfg.model,
            ", ".join(clf.providers),
            self.model_info.sha256[:12],
            extra={"event": "model_loaded"},
        )
        manager: StreamManager | ClusterManager
        if cfg.ray is not None:  # the streams run on a Ray cluster's nodes; everything else stays here
            manager = self._cluster_manager()
        else:
            manager = StreamManager(
                clf,
                reconnect=cfg.reconnect,
                timeout_s=cfg.stream_timeout,
                history=cfg.history,
                events=cfg.events.config(),
            )
        self._metrics = ServeMetrics(manager, lambda: self.sinks, lambda: (self.model_info, self.swaps))
        if cfg.media is not None:
            hold = cfg.events.min_event + 1.0
            self.media = EventMedia(cfg.media.config(), list(clf.class_names), hold_s=hold)
            if isinstance(manager, StreamManager):  # (a cluster refuses media at the config check)
                manager.packets = self.media.cfg.ring(hold)  # H.264 clips copied from rtsp:// and .mp4 sources
            for note in self.media.errors:
                log.warning("media: %s", note, extra={"event": "media"})
        self._events = StreamEvents(clf.class_names, self.sinks, manager.events.append, self.media)
        manager.listeners += [self._metrics.observe, self._events]
        manager.on_end = self._events.finish
        self._manager = manager
        manager.start()
        for s in cfg.streams:
            self.add_stream(s)
        threading.Thread(target=self._watch_sinks, name="serve:sinks", daemon=True).start()
        return self

    def _cluster_manager(self) -> ClusterManager:
        """`vc-serve --ray ADDRESS`: joined to the cluster; its stream records go to the history and sinks."""
        from lrcn.runtime.parallel import WorkerSpec
        from lrcn.serve.cluster_manager import ClusterManager

        cfg = self.cfg
        spec = WorkerSpec(str(Path(cfg.model).resolve()), cfg.device, cfg.threads or 1, cfg.top_k, 30.0, 1)
        assert cfg.ray is not None
        manager = ClusterManager.connect(cfg.ray, spec, history=cfg.history, events=cfg.events.config())
        manager.on_record = self.record_event
        log.info("streams run on the Ray cluster at %s", cfg.ray, extra={"event": "cluster_joined"})
        return manager

    # -- hot model reload ------------------------------------------------------------------------
    def swap_model(self, path: str, force: bool = False, *, checked: bool = False) -> dict:
        """Serve the model at `path` from the next tick on; what was done, or SwapRefused (one line).

        `path` must be one the config allows (unless `checked`: the config file names it). The
        model is loaded and checked in full first; a failure leaves the old one serving. Other
        classes or preprocessing: refused (409) unless `force`. Streams stay connected; each
        stream's state starts afresh (one log line per stream) and its open events end.
        """
        from lrcn.runtime.classifier import VideoClassifier

        cfg = self.cfg
        manager = self.manager
        if not isinstance(manager, StreamManager):
            raise SwapRefused(409, "model swap is not available on a cluster (vc-serve --ray): restart the service")
        real = str(Path(path).resolve()) if checked else allowed_path(path, cfg.models_dir, cfg.model_allow)
        with self._swap_lock:
            try:
                clf = VideoClassifier(
                    real,
                    device=cfg.device,
                    threads=cfg.threads,
                    top_k=cfg.top_k,
                    decode_timeout_s=cfg.http.upload_decode_timeout,
                )
                info = ModelInfo.of(real, clf.meta)
                manager.multi.engine.for_model(clf.model, manager.multi.cfg.stateful)  # its parts load
            except Exception as e:  # noqa: BLE001 - any failure to load answers one line; the old model serves on
                msg = printable(" ".join(str(e).split()))[:500] or type(e).__name__
                log.warning("model swap refused: %s", msg, extra={"event": "model_swap_failed"})
                raise SwapRefused(422, f"model not loaded, the old one serves on: {msg}") from None
            change = contract_change(self.clf.meta, clf.meta)
            if change and not force:
                raise SwapRefused(409, f"{info.name}: {change}; send force: true to swap anyway")
            entries = manager.list()
            handles = manager.multi.swap(clf)  # O(streams), between two ticks
            self._clf, self.model_info = clf, info
            self.swaps += 1
            self.events.relabel(clf.class_names, entries)
        names = {id(e.handle): e.settings.name for e in entries if e.handle is not None}
        reset = [names.get(id(h), h.name) for h in handles]
        log.info(
            "model swapped to %s (sha256 %s%s)",
            real,
            info.sha256[:12],
            f", forced: {change}" if change else "",
            extra={"event": "model_swapped"},
        )
        for name in reset:
            log.info(
                "stream %s: state reset for the new model (window, LSTM state, smoothing, open events)",
                name,
                extra={"event": "stream_state_reset", "stream": name},
            )
        return {
            "model": info.name,
            "sha256": info.sha256,
            "version": info.version,
            "reset": reset,
            "forced": bool(change),
        }

    def reload_config(self, config_path: str) -> None:
        """SIGHUP: read the config file again and swap to its model if that changed (path or content)."""
        from lrcn.serve.config import load

        try:
            new = load(config_path)
        except Exception as e:  # noqa: BLE001 - a bad config on SIGHUP is one line; nothing changes
            log.warning("reload: %s", printable(" ".join(str(e).split())), extra={"event": "reload_failed"})
            return
        self.cfg.models_dir, self.cfg.model_allow = new.models_dir, new.model_allow
        cur = self.model_info
        same = cur is not None and Path(new.model).resolve() == Path(cur.path).resolve()
        try:
            if same and cur is not None and ModelInfo.of(new.model, self.clf.meta).sha256 == cur.sha256:
                log.info("reload: the model has not changed", extra={"event": "reload_unchanged"})
                return
            self.swap_model(new.model, checked=True)
            self.cfg.model = new.model
        except (SwapRefused, OSError) as e:
            log.warning("reload: %s", printable(" ".join(str(e).split())), extra={"event": "reload_failed"})

    def add_stream(self, settings: StreamSettings) -> Entry:
        """Start a stream; ValueError when its name is taken, manager.StreamLimit past `max_streams`."""
        return self.manager.add(settings, limit=self.cfg.max_streams)

    def remove_stream(self, name: str) -> bool:
        entry = self.manager.get(name)
        ok = self.manager.remove(name)
        if ok and entry is not None:
            self.metrics.forget(name)
            self.events.finish(entry)
        return ok

    def record_event(self, record: dict) -> dict:
        """One event record from outside the routers: history, then every sink."""
        item = self.manager.events.append(record)
        for sink in self.sinks:
            sink.emit(record)
        return item

    def _watch_sinks(self) -> None:
        """One log line when a sink's failure count grows (not one per failed record)."""
        while not self.manager.stopping.wait(1.0):
            for sink in self.sinks:
                failed = sink_counts(sink)["failed"]
                if failed > self._sink_failed.get(sink.name, 0):
                    log.warning(
                        "sink %s: %d record(s) failed so far",
                        sink.name,
                        failed,
                        extra={"event": "sink_failure", "sink": sink.name},
                    )
                    self._sink_failed[sink.name] = failed

    def close(self, timeout: float = 3.0) -> None:
        """Stop streams, then flush sinks, all within about `timeout` seconds."""
        deadline = time.monotonic() + timeout
        if self._manager is not None:
            self._manager.close(timeout=timeout / 2)
            self.events.finish_all(self._manager.list())  # open events end with the service, and reach the sinks
        if self.media is not None:
            self.media.close(timeout=max(0.1, deadline - time.monotonic()))
        for sink in self.sinks:
            left = max(0.1, deadline - time.monotonic())
            try:
                summary = sink.close(timeout=left)
                log.info(
                    "%s",
                    summary.line() if hasattr(summary, "line") else f"sink {sink.name}: closed",
                    extra={"event": "sink_closed", "sink": sink.name},
                )
            except Exception as e:  # noqa: BLE001 - one sink's failure to close must not keep the others open
                log.warning("sink %s: close failed: %s", sink.name, e, extra={"event": "sink_failure"})


def open_sinks(specs: list[str]) -> list[Sink]:
    """The configured sinks (lrcn.runtime.sinks), all or none; ValueError naming `sinks` on a bad one."""
    if not specs:
        return []
    from lrcn.runtime.sinks import open_sinks as open_all

    try:
        return open_all(specs)
    except ValueError as e:
        raise ValueError(f"sinks: {e}") from None
