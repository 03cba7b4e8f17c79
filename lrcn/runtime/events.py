"""Events: runs of one label at or above a threshold, per stream, from a stream of predictions.

Torch-free and engine-independent: feed it `(stream, probabilities, t)` however they were made.

Per stream and per label, independently (with a threshold under 0.5 two labels can overlap):
- a prediction with the label's probability >= `threshold` is "above"; the first one starts a run;
- the run becomes an event once it spans `min_event` seconds (last above minus first above):
  a `start` record goes out then, so a live consumer learns of it `min_event` after it began;
- predictions below the threshold make a gap, measured from the first below prediction; a
  gap that reaches `merge_gap` seconds ends the run: an `end` record goes out if it had become
  an event, else the run is dropped. A shorter gap is absorbed and the run goes on;
- `finish(stream)` (the stream ended) ends every open run the same way.

Times are the predictions' source times (`t`, seconds); `wall` (epoch seconds of capture, for
live sources) is carried beside them when given. An event runs from its first to its last
prediction at or above the threshold: `duration` is `end - start`, so one step is between
a boundary in the video and the event's edge at most, whatever the sampling rate.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class EventConfig:
    """When predictions make an event (the `vc-run --events` defaults)."""

    threshold: float = 0.5
    """A label counts while its probability is at or above this."""
    min_event: float = 1.0
    """Seconds a label must hold (first to last prediction above the threshold) to become an event."""
    merge_gap: float = 1.0
    """Seconds below the threshold that end an event; shorter gaps are merged into it."""

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.min_event < 0:
            raise ValueError(f"min_event must be >= 0 seconds, got {self.min_event}")
        if self.merge_gap < 0:
            raise ValueError(f"merge_gap must be >= 0 seconds, got {self.merge_gap}")


@dataclass
class Event:
    """One event; `to_record(phase)` is what sinks receive."""

    id: str
    stream: str
    label: str
    start: float
    end: float
    start_wall: float | None = None
    end_wall: float | None = None
    peak: float = 0.0
    total: float = 0.0
    predictions: int = 0
    gap_since: float | None = field(default=None, repr=False)
    """Source time of the first prediction below the threshold in the current gap."""
    opened: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start

    @property
    def mean(self) -> float:
        return self.total / self.predictions if self.predictions else 0.0

    def add(self, p: float, t: float, wall: float | None) -> None:
        self.end, self.end_wall, self.gap_since = t, wall, None
        self.peak = max(self.peak, p)
        self.total += p
        self.predictions += 1

    def to_record(self, phase: str) -> dict:
        """A JSON-ready dict; a `start` record has no end yet (end and duration null)."""
        done = phase == "end"
        return {
            "type": "event",
            "phase": phase,
            "id": self.id,
            "stream": self.stream,
            "label": self.label,
            "start": round(self.start, 3),
            "end": round(self.end, 3) if done else None,
            "duration": round(self.duration, 3) if done else None,
            "start_wall": self.start_wall,
            "end_wall": self.end_wall if done else None,
            "peak": round(self.peak, 6),
            "mean": round(self.mean, 6),
            "predictions": self.predictions,
        }


class EventDetector:
    """Feed predictions with `update`, end a stream with `finish`; both return the records to emit."""

    def __init__(
        self,
        labels: Sequence[str],
        config: EventConfig | None = None,
        *,
        run_id: str | None = None,
        keep: int | None = None,
    ):
        self.labels = list(labels)
        self.cfg = config or EventConfig()
        self.run_id = run_id or uuid.uuid4().hex[:8]
        """Makes ids unique across runs; ids are `<run_id>-<n>`."""
        self._runs: dict[str, dict[int, Event]] = {}
        self._count = 0
        if keep is not None and keep < 0:
            raise ValueError(f"keep must be >= 0 or None, got {keep}")
        self.events: deque[Event] = deque(maxlen=keep)
        """The events that ended, in the order they ended: all of them (`keep` None, for one recorded video),
        else the newest `keep` (a live run of days keeps a bounded number; 0 keeps none)."""
        self.ended = 0
        """Events that ended, kept or not."""

    def update(
        self, stream: str, probs: Sequence[float] | np.ndarray, t: float, wall: float | None = None
    ) -> list[dict]:
        """One prediction (probabilities in `labels` order at source time t) -> start/end records."""
        if len(probs) != len(self.labels):
            raise ValueError(f"{len(probs)} probabilities for {len(self.labels)} labels")
        runs = self._runs.setdefault(stream, {})
        out: list[dict] = []
        ends: list[dict] = []  # go first: an event that ends here came before one that starts here
        thr, cfg = self.cfg.threshold, self.cfg
        for i, p in enumerate(probs):
            p = float(p)
            ev = runs.get(i)
            if p >= thr:
                if ev is None:
                    self._count += 1
                    ev = runs[i] = Event(f"{self.run_id}-{self._count}", stream, self.labels[i], t, t, wall, wall)
                ev.add(p, t, wall)
                if not ev.opened and ev.duration >= cfg.min_event - 1e-9:
                    ev.opened = True
                    out.append(ev.to_record("start"))
            elif ev is not None:
                if ev.gap_since is None:
                    ev.gap_since = t
                if t - ev.gap_since >= cfg.merge_gap - 1e-9:
                    ends += self._close(runs, i)
        return ends + out

    def finish(self, stream: str) -> list[dict]:
        """The stream ended: end its events (runs shorter than min_event are dropped)."""
        runs = self._runs.pop(stream, {})
        out: list[dict] = []
        for i in sorted(runs, key=lambda i: runs[i].start):
            out += self._close(runs, i)
        return out

    def finish_all(self) -> list[dict]:
        return [r for s in list(self._runs) for r in self.finish(s)]

    def active(self, stream: str) -> list[Event]:
        """The open events of a stream (those that sent `start` and no `end` yet)."""
        return [e for e in self._runs.get(stream, {}).values() if e.opened]

    def _close(self, runs: dict[int, Event], i: int) -> list[dict]:
        ev = runs.pop(i)
        if not ev.opened:
            return []
        self.events.append(ev)
        self.ended += 1
        return [ev.to_record("end")]


def detect(
    labels: Sequence[str],
    predictions: Iterable[tuple[float, Sequence[float]]],
    config: EventConfig | None = None,
    *,
    stream: str = "video",
) -> list[Event]:
    """Every event of one finished sequence of (t, probs): for recorded videos and tests."""
    det = EventDetector(labels, config, run_id="e")
    for t, probs in predictions:
        det.update(stream, probs, t)
    det.finish(stream)
    return list(det.events)


def event_dict(ev: Event) -> dict:
    """An ended event as a flat dict (tables, JSON files)."""
    return {k: v for k, v in ev.to_record("end").items() if k not in ("type", "phase")}
