"""c. End to end: the runtime's stream loop on a camera-like 30 fps source, decode included.

`PacedSource` plays a video file the way a camera delivers frames: a capture thread decodes
it in real time (looping the file), frame k at k / fps seconds, and keeps only the newest
frame, with the same holder (`lrcn.runtime.newest`) that `LiveSource` uses for cameras and URLs. The stream (the
runtime's `VideoClassifier.stream`, what `vc-run --stream` runs) processes every frame it gets
(sample_fps 0); a frame that arrives while the previous one is still being classified is
replaced by the next one and counts as dropped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import cv2

from lrcn.bench.config import BenchConfig
from lrcn.bench.labels import label
from lrcn.runtime.newest import Frame, NewestFrames


class PacedSource:
    """A video file delivered at `fps` in real time for `seconds`, newest frame only."""

    live = True

    def __init__(self, path: str | Path, fps: float, seconds: float):
        self.path, self.fps, self.seconds = Path(path), fps, seconds
        self.name = f"{self.path.name} paced at {fps:g} fps"
        self._box = NewestFrames()  # the newest-frame slot LiveSource keeps for cameras and URLs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._play, name="paced-source", daemon=True)
        self._thread.start()

    @property
    def read(self) -> int:
        return self._box.count

    def _play(self) -> None:
        cap = cv2.VideoCapture(str(self.path))
        try:
            total = int(self.seconds * self.fps)
            for k in range(total):
                delay = self._box.t0 + k / self.fps - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                ok, img = cap.read()
                if not ok:  # loop the file
                    cap.release()
                    cap = cv2.VideoCapture(str(self.path))
                    ok, img = cap.read()
                    if not ok:
                        return
                self._box.put(img)
        finally:
            cap.release()
            self._box.end()

    def frames(self) -> Iterator[Frame]:
        return self._box.frames()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)


def _one(subject, cfg: BenchConfig, video: Path, stateful: bool, model_key: str) -> dict:
    import statistics

    from lrcn.runtime import VideoClassifier

    # as vc-run builds it: default session options (spinning on; LrcnModel turns it off for the window's
    # encoder and head parts), the bench's thread count
    clf = VideoClassifier(subject.files[model_key], device=cfg.device, threads=cfg.threads)
    warm = PacedSource(video, cfg.source_fps, min(1.0, cfg.e2e_seconds))
    list(clf.stream(warm, sample_fps=0, stateful=stateful))  # warm-up
    source = PacedSource(video, cfg.source_fps, cfg.e2e_seconds)
    with clf.stream(source, sample_fps=0, stateful=stateful) as stream:
        ms = [p.ms for p in stream]
        stats = stream.stats
    return {
        "source_fps": cfg.source_fps,
        "seconds": round(stats.seconds, 2),
        "read": stats.read,
        "processed": stats.processed,
        "dropped": stats.dropped,
        "fps": round(stats.fps, 2),
        "ms_per_frame_median": round(statistics.median(ms), 2) if ms else None,
        "providers": clf.providers,
    }


def measure(subject, cfg: BenchConfig, video: Path, log=print) -> dict:
    w, h = cfg.source_size
    modes = {
        "window": (False, "full"),
        **({"step": (True, "full")} if "step" in subject.files else {}),
        **({"window_int8": (False, "int8")} if "int8_encoder" in subject.files else {}),
        **({"step_int8": (True, "int8")} if "int8_step" in subject.files else {}),
    }
    out = {
        "source": f"{video.name}: {w}x{h} MJPG, decoded in a capture thread, resized to "
        f"{subject.spec.img_size} px by the stream",
        "modes": {},
    }
    for name, (stateful, key) in modes.items():
        log(
            f"  end to end: stream mode ({label('e2e', name)}) on a {cfg.source_fps:g} fps source for {cfg.e2e_seconds:g} s"
        )
        out["modes"][name] = _one(subject, cfg, video, stateful, key)
    return out
