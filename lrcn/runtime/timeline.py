"""`vc-run long.mp4 --timeline out.html|.json|.csv`: what happens when in a recorded video.

Stream mode over the file as fast as it decodes and classifies (no pacing), every prediction
kept; the events come from `events.EventDetector` (and go to any `--sink` too), and a
per-second label strip gives the label of each second (the mean probabilities of the
predictions made in it). The writers take the finished `Timeline`; the HTML page is in
`timeline_html`.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

from lrcn.core.atomic import write_json, write_text
from lrcn.core.text import csv_text  # a class name starting with = + - @ stays text in a spreadsheet
from lrcn.runtime.events import Event, EventConfig, event_dict

FORMATS = (".html", ".json", ".csv")


@dataclass
class Timeline:
    source: str
    labels: list[str]
    duration: float
    """Seconds of video (the last prediction's time where the container does not say)."""
    config: EventConfig
    window_s: float | None = None
    """Source seconds one prediction's window spans; a prediction is placed at its newest frame, so
    label changes show up to this late."""
    times: list[float] = field(default_factory=list)
    probs: list[np.ndarray] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def add(self, t: float, probs: np.ndarray) -> None:
        self.times.append(float(t))
        self.probs.append(np.asarray(probs, np.float32))

    def seconds(self) -> list[dict]:
        """One row per second of video: the label of the mean probabilities predicted in that second
        (None where nothing was predicted, e.g. while the first window filled)."""
        n = max(1, math.ceil(max(self.duration, self.times[-1] if self.times else 0.0) - 1e-9))
        sums, counts = np.zeros((n, len(self.labels))), np.zeros(n, int)
        for t, p in zip(self.times, self.probs):
            s = min(int(t), n - 1)
            sums[s] += p
            counts[s] += 1
        rows = []
        for s in range(n):
            if counts[s]:
                mean = sums[s] / counts[s]
                i = int(np.argmax(mean))
                rows.append({"second": s, "label": self.labels[i], "probability": round(float(mean[i]), 6)})
            else:
                rows.append({"second": s, "label": None, "probability": None})
        return rows

    def to_dict(self) -> dict:
        return {
            "source": self.source,
            "duration": round(self.duration, 3),
            "labels": self.labels,
            "window_s": None if self.window_s is None else round(self.window_s, 3),
            "config": asdict(self.config),
            "events": [event_dict(e) for e in self.events],
            "seconds": self.seconds(),
            "predictions": len(self.times),
        }


def check_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"--timeline {path}: the name must end in {', '.join(FORMATS)}")
    return path


def video_duration(path: str | Path) -> float | None:
    """Seconds, from the container's frame count and rate; None where it does not say."""
    from lrcn.runtime.decode import open_file_capture, usable_fps

    cap = open_file_capture(str(path))
    try:
        n, fps = cap.get(cv2.CAP_PROP_FRAME_COUNT), usable_fps(cap.get(cv2.CAP_PROP_FPS))
    finally:
        cap.release()
    if fps is None or not (np.isfinite(n) and n > 0):
        return None
    return float(n / fps)


def write_timeline(path: str | Path, tl: Timeline) -> Path:
    """Write the timeline in the format its suffix names, atomically."""
    path = check_path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        write_json(path, tl.to_dict())
    elif suffix == ".csv":
        write_text(path, timeline_csv(tl))
    else:
        from lrcn.runtime.timeline_html import timeline_html

        write_text(path, timeline_html(tl))
    return path


CSV_COLUMNS = ("kind", "start", "end", "label", "probability", "peak", "mean", "predictions", "id")


def timeline_csv(tl: Timeline) -> str:
    """One table: a row per event (kind=event), then a row per second (kind=second)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for e in tl.events:
        w.writerow(
            {
                "kind": "event",
                "start": round(e.start, 3),
                "end": round(e.end, 3),
                "label": csv_text(e.label),
                "probability": "",
                "peak": round(e.peak, 6),
                "mean": round(e.mean, 6),
                "predictions": e.predictions,
                "id": e.id,
            }
        )
    for s in tl.seconds():
        w.writerow(
            {
                "kind": "second",
                "start": s["second"],
                "end": s["second"] + 1,
                "label": csv_text(s["label"] or ""),
                "probability": "" if s["probability"] is None else s["probability"],
            }
        )
    return buf.getvalue()
