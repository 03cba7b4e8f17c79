"""Events in the service: each stream's predictions through its own events detector, records to the
history (/events) and to every sink; predictions too, to sinks that ask for them.

The detector is lrcn.runtime.events (the `vc-run --events` one); in a build without it the
service runs without events (the history stays empty, records can still be fed by
`Service.record_event`).
"""

from __future__ import annotations

import threading

from lrcn.serve.config import EventSettings


def detector_factory(labels: list[str]):
    """A function EventSettings -> detector, or None where this build has no events module."""
    try:
        from lrcn.runtime.events import EventConfig, EventDetector
    except ImportError:
        return None
    return lambda s: EventDetector(
        labels, EventConfig(threshold=s.threshold, min_event=s.min_event, merge_gap=s.merge_gap)
    )


class ServeEvents:
    """A StreamManager listener: per stream a detector with that stream's settings (or the defaults)."""

    def __init__(self, labels: list[str], defaults: EventSettings, record, sinks: list):
        self.make = detector_factory(labels)
        self.defaults, self.record, self.sinks = defaults, record, sinks
        self.detectors: dict[str, tuple[object, object]] = {}
        """stream name -> (the manager's Entry it belongs to, detector)."""
        self.lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.make is not None

    def __call__(self, entry, pred) -> None:
        if pred.probs is None:
            return
        name = entry.settings.name
        live = getattr(entry.source, "live", False)
        wall = pred.captured if live else None
        if self.make is not None:
            with self.lock:
                owner, det = self.detectors.get(name, (None, None))
                if owner is not entry:  # first prediction, or a new stream under an old name
                    det = self.make(entry.settings.events or self.defaults)
                    self.detectors[name] = (entry, det)
                records = det.update(name, pred.probs, pred.t, wall)
            for r in records:
                self.record(r)
        wanting = [s for s in self.sinks if getattr(s, "wants_predictions", False)]
        if wanting:
            row = {
                "type": "prediction",
                "stream": name,
                "t": round(pred.t, 3),
                "wall": pred.captured,
                "label": pred.label,
                "probability": round(float(pred.probability), 6),
            }
            for s in wanting:
                s.emit(row)

    def finish(self, name: str) -> None:
        """The stream ended or was removed: close its open events."""
        with self.lock:
            _, det = self.detectors.pop(name, (None, None))
            records = det.finish(name) if det is not None else []
        for r in records:
            self.record(r)

    def finish_all(self) -> None:
        for name in list(self.detectors):
            self.finish(name)
