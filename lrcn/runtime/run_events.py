"""Events and sinks over any prediction stream: the thin layer vc-run puts after its engine.

Engine-independent: it reads only a prediction's `probs`, `t`, `label`, `probability`, and, where
the engine gives them, `stream` (the stream's name) and `captured` (wall-clock time of capture).
So the same layer serves one stream or many, `vc-run`, the Python API (`EventStream`) and a service.

    ev = EventStream(clf.stream("door.mp4"), clf.class_names, EventConfig(min_event=2.0),
                     sinks=open_sinks(["jsonl:events.jsonl"]))
    for pred, records in ev:        # records: the event start/end records this prediction caused
        ...
    print(ev.summaries)             # per sink: delivered, failed, dropped, unsent
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence

from lrcn.runtime.events import EventConfig, EventDetector
from lrcn.runtime.sinks import Sink, SinkSummary
from lrcn.runtime.stream import prediction_record

SINK_CLOSE_S = 3.0
"""Seconds all sinks together get to deliver what is queued when a run ends (Ctrl-C and SIGTERM too)."""


class EventRouter:
    """Predictions in; event records out (returned, and emitted to every sink)."""

    def __init__(
        self,
        labels: Sequence[str],
        config: EventConfig | None = None,
        sinks: Iterable[Sink] = (),
        *,
        run_id: str | None = None,
        keep_events: int | None = None,
        annotate: Callable[[dict], dict] | None = None,
    ):
        """`annotate` sees every event record before the sinks do (vc-run's --media names the files there)."""
        self.detector = EventDetector(labels, config, run_id=run_id, keep=keep_events)
        self.annotate = annotate
        self.sinks = list(sinks)
        self._prediction_sinks = [s for s in self.sinks if s.wants_predictions]
        self.summaries: list[SinkSummary] = []
        for s in self.sinks:  # a sink that announces entities per label (MQTT's Home Assistant discovery)
            bind = getattr(s, "bind_labels", None)
            if bind is not None:
                bind(self.detector.labels)

    def prediction(self, pred, *, stream: str | None = None, live: bool = False) -> list[dict]:
        """One prediction (not ready ones are ignored) of `stream` (default: the prediction's own `stream`);
        `live` attaches wall-clock times (the capture time where the engine gives it) to events."""
        if getattr(pred, "probs", None) is None:
            return []
        name = stream or getattr(pred, "stream", "") or "stream"  # a name given here wins over the engine's
        rec = prediction_record(pred, stream=name, live=live)  # the one record: vc-run --json prints it too
        for s in self._prediction_sinks:
            s.emit(rec)
        return self._send(self.detector.update(name, pred.probs, pred.t, rec["wall"]))

    def end(self, stream: str | None = None) -> list[dict]:
        """A stream ended (None: every stream): its open events end."""
        return self._send(self.detector.finish(stream) if stream is not None else self.detector.finish_all())

    def close(self, timeout: float = SINK_CLOSE_S) -> list[dict]:
        """End every open event, then give the sinks `timeout` seconds (together, in parallel) to deliver.

        Returns the last records; `summaries` holds each sink's counts afterwards. SIGTERM is ignored
        meanwhile (the wait is bounded), so a second one does not cut the flush short.
        """
        records = self._send(self.detector.finish_all())
        summaries: list[SinkSummary | None] = [None] * len(self.sinks)

        def close_one(i: int) -> None:
            try:
                summaries[i] = self.sinks[i].close(timeout)
            except Exception as e:  # noqa: BLE001 - one line in the summary, never a traceback from this thread
                summaries[i] = SinkSummary(self.sinks[i].name, note=f"close failed: {type(e).__name__}: {e}")

        old = _ignore_sigterm()
        try:
            threads = [threading.Thread(target=close_one, args=(i,), daemon=True) for i in range(len(self.sinks))]
            for t in threads:
                t.start()
            deadline = time.monotonic() + timeout + 1.0
            for t in threads:
                t.join(max(0.0, deadline - time.monotonic()))
        finally:
            _restore_sigterm(old)
        self.summaries = [
            s or SinkSummary(self.sinks[i].name, note="did not close in time") for i, s in enumerate(summaries)
        ]
        return records

    def _send(self, records: list[dict]) -> list[dict]:
        if self.annotate is not None:
            records = [self.annotate(r) for r in records]
        for r in records:
            for s in self.sinks:
                s.emit(r)
        return records


def _ignore_sigterm():
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _restore_sigterm(old) -> None:
    if old is not None:
        signal.signal(signal.SIGTERM, old)


class EventStream:
    """Wrap a prediction iterator: yields (prediction, records); once it ends, one last (None, records)
    with the events it closed (if any), then the sinks are closed and `summaries` filled."""

    def __init__(
        self,
        predictions: Iterable,
        labels: Sequence[str],
        config: EventConfig | None = None,
        *,
        sinks: Iterable[Sink] = (),
        stream: str | None = None,
        live: bool = False,
        close_timeout: float = SINK_CLOSE_S,
    ):
        self.predictions, self.stream, self.live, self.close_timeout = predictions, stream, live, close_timeout
        self.router = EventRouter(labels, config, sinks)

    @property
    def summaries(self) -> list[SinkSummary]:
        return self.router.summaries

    @property
    def events(self):
        """The events that ended so far."""
        return self.router.detector.events

    def __iter__(self) -> Iterator[tuple[object | None, list[dict]]]:
        try:
            for pred in self.predictions:
                yield pred, self.router.prediction(pred, stream=self.stream, live=self.live)
        finally:
            last = self.router.close(self.close_timeout)
        if last:
            yield None, last
