"""Camera-like sources for the streams bench: pre-decoded frames released at a fixed rate.

`PacedFrames` plays a list of frames the way a camera delivers them: frame k at
phase + k / fps seconds after start, newest only (a frame not taken is replaced), so the bench
measures lrcn, not a decoder. `python -m lrcn.bench.paced ...` is one single-stream process (the
runtime's `clf.stream`, what `vc-run --stream` runs) on such a source: it loads, says "ready",
waits for a line on stdin, plays, and prints its figures as one JSON line. Imports stay
torch-free (the worker is a runtime process).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from lrcn.runtime.newest import NewestFrames


class PacedFrames:
    """A live source: `frames` looped at `fps` for `seconds`, offset by `phase` seconds, newest only."""

    live = True

    def __init__(self, frames: list[np.ndarray], fps: float, seconds: float, phase: float = 0.0, name: str = "paced"):
        self.images, self.fps, self.seconds, self.phase = frames, fps, seconds, phase
        self.name, self.reconnects = name, 0
        self.total = int(seconds * fps)
        self._box = NewestFrames()  # the newest-frame holder LiveSource uses for cameras and URLs
        self._stop = threading.Event()
        self.t0_wall = 0.0
        self._thread = threading.Thread(target=self._play, name=f"paced:{name}", daemon=True)

    def start(self, t0_mono: float, t0_wall: float) -> None:
        self._t0, self.t0_wall = t0_mono, t0_wall
        self._thread.start()

    def release_wall(self, index: int) -> float:
        """Wall-clock time frame `index` was due (the camera's capture time)."""
        return self.t0_wall + self.phase + index / self.fps

    @property
    def read(self) -> int:
        return self._box.count

    def _play(self) -> None:
        try:
            for k in range(self.total):
                t = self.phase + k / self.fps
                if self._stop.wait(max(0.0, self._t0 + t - time.monotonic())):
                    return
                self._box.put(self.images[k % len(self.images)], t)
        finally:
            self._box.end()

    def frames(self) -> Iterator:
        return self._box.frames()

    def close(self) -> None:
        self._stop.set()


def decode_frames(video: str | Path, limit: int = 100) -> list[np.ndarray]:
    import cv2

    cap, out = cv2.VideoCapture(str(video)), []
    while len(out) < limit:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    cap.release()
    if not out:
        raise RuntimeError(f"{video}: no frames decoded")
    return out


def figures(preds_by_stream: dict[str, list], sources: dict[str, PacedFrames], warm_s: float) -> dict[str, dict]:
    """Per stream, over the frames released after the warm-up: due, processed share, latency p50/p95
    (camera release to prediction)."""
    out = {}
    for name, src in sources.items():
        first = int(warm_s * src.fps)
        due = max(0, src.total - first)
        lat = [
            p.predicted - src.release_wall(p.source_index)
            for p in preds_by_stream.get(name, [])
            if p.source_index >= first
        ]
        lat_ms = np.asarray(lat) * 1e3
        out[name] = {
            "due": due,
            "processed": len(lat),
            "share": len(lat) / due if due else 1.0,
            "latency_p50_ms": float(np.percentile(lat_ms, 50)) if len(lat) else None,
            "latency_p95_ms": float(np.percentile(lat_ms, 95)) if len(lat) else None,
        }
    return out


def current_rss_mb() -> float:
    from lrcn.bench.memory import status_mb  # standard library only at its top, as this worker needs

    now = status_mb("VmRSS")
    return float("nan") if now is None else now


def live_figures(latencies: dict[str, list[float]], fps: float, seconds: float) -> dict[str, dict]:
    """Per live (MJPEG) stream: frames processed in the measured window against the camera's
    fps x seconds, and lrcn's capture-to-prediction latency (from the decoded frame's arrival)."""
    due = fps * seconds
    return {
        k: {
            "due": due,
            "processed": len(v),
            "share": min(1.0, len(v) / due),
            "latency_p50_ms": float(np.percentile(v, 50)) if v else None,
            "latency_p95_ms": float(np.percentile(v, 95)) if v else None,
        }
        for k, v in latencies.items()
    }


def measure_live(stream_or_multi, warm_s: float, seconds: float) -> dict[str, list[float]]:
    """Run `ticks()` for warm_s + seconds; the latencies of the predictions after the warm-up, per stream."""
    t0 = time.monotonic()
    lat: dict[str, list[float]] = {}
    for tick in stream_or_multi.ticks():
        now = time.monotonic()
        if now >= t0 + warm_s + seconds:
            break
        if now >= t0 + warm_s:
            for p in tick.predictions:
                lat.setdefault(p.stream, []).append(p.latency_ms)
    return lat


def _worker(model: str, video: str, fps: float, seconds: float, warm_s: float, threads: int, device: str) -> dict:
    sys.modules["torch"] = None  # a runtime process, as vc-run is
    from lrcn.runtime import VideoClassifier

    clf = VideoClassifier(model, device=device, threads=threads)
    if "://" in video:  # a loopback MJPEG camera: decoding included
        multi = clf.streams({"one": video}, sample_fps=0, reconnect=0)
        print("ready", flush=True)
        sys.stdin.readline()
        lat = measure_live(multi, warm_s, seconds)
        rss = current_rss_mb()
        multi.close()
        return {**live_figures({"one": lat.get("one", [])}, fps, seconds)["one"], "rss_mb": round(rss, 1)}
    frames = decode_frames(video)
    src = PacedFrames(frames, fps, warm_s + seconds, name="one")
    stream = clf.stream(src, sample_fps=0)
    print("ready", flush=True)
    sys.stdin.readline()
    src.start(time.monotonic(), time.time())
    preds = list(stream)
    stream.close()
    return {**figures({"one": preds}, {"one": src}, warm_s)["one"], "rss_mb": round(current_rss_mb(), 1)}


if __name__ == "__main__":
    m, v, f, s, w, t, d = sys.argv[1:8]
    print(json.dumps(_worker(m, v, float(f), float(s), float(w), int(t), d)), flush=True)
