"""The running service: model, stream manager, event history, sinks and metrics, started and stopped as one.

`Service(cfg).start()` loads the model (before the HTTP server answers /ready), opens the
sinks, and adds the configured streams; `close(timeout)` stops the streams and flushes the
sinks within the bound. The API (`serve.api`) only reads and drives this object.
"""

from __future__ import annotations

import logging
import threading
import time

from lrcn.serve.config import ServeConfig, StreamSettings
from lrcn.serve.events import ServeEvents
from lrcn.serve.manager import StreamManager
from lrcn.serve.metrics import ServeMetrics, sink_counts

log = logging.getLogger("lrcn.serve")


class Service:
    def __init__(self, cfg: ServeConfig):
        self.cfg = cfg
        self.clf = None
        self.manager: StreamManager | None = None
        self.metrics: ServeMetrics | None = None
        self.sinks: list = []
        self.classify_slots = threading.BoundedSemaphore(cfg.http.classify_workers)
        self.started_at = time.time()
        self._sink_failed: dict[str, int] = {}
        self.events: ServeEvents | None = None

    def start(self) -> Service:
        from lrcn.runtime.classifier import VideoClassifier

        cfg = self.cfg
        self.sinks[:] = open_sinks(cfg.sinks)  # first: a bad sink fails before the model loads
        self.clf = VideoClassifier(cfg.model, device=cfg.device, threads=cfg.threads, top_k=cfg.top_k)
        log.info("model %s loaded (%s)", cfg.model, ", ".join(self.clf.providers), extra={"event": "model_loaded"})
        self.manager = StreamManager(
            self.clf, reconnect=cfg.reconnect, timeout_s=cfg.stream_timeout, history=cfg.history
        )
        self.metrics = ServeMetrics(self.manager, lambda: self.sinks)
        self.events = ServeEvents(self.clf.class_names, cfg.events, self.record_event, self.sinks)
        self.manager.listeners += [self.metrics.observe, self.events]
        self.manager.on_end = self.events.finish
        log.info(
            "events %s",
            "on" if self.events.enabled else "off (this build has no lrcn.runtime.events)",
            extra={"event": "events"},
        )
        self.manager.start()
        for s in cfg.streams:
            self.add_stream(s)
        threading.Thread(target=self._watch_sinks, name="serve:sinks", daemon=True).start()
        return self

    def add_stream(self, settings: StreamSettings):
        return self.manager.add(settings)

    def remove_stream(self, name: str) -> bool:
        ok = self.manager.remove(name)
        if ok:
            self.metrics.forget(name)
            self.events.finish(name)
        return ok

    def record_event(self, record: dict) -> dict:
        """One event record (start or end) from the events detector: history, then every sink."""
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
        if self.manager is not None:
            self.manager.close(timeout=timeout / 2)
            self.events.finish_all()  # open events end with the service, and reach the sinks
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


def open_sinks(specs: list[str]) -> list:
    """The configured sinks (lrcn.runtime.sinks), all or none; ValueError naming `sinks` on a bad one."""
    if not specs:
        return []
    from lrcn.runtime.sinks import open_sinks as open_all

    try:
        return open_all(specs)
    except ValueError as e:
        raise ValueError(f"sinks: {e}") from None
