"""Event media: a clip and a snapshot per event, in a folder with retention (`vc-run --media DIR`).

    media = EventMedia(MediaConfig.from_spec("media#pre_s=3,post_s=3,days=7,max_mb=500"))
    media.annotate(record)                 # an event record: opens/ends its clip, names the files
    media.frame(stream, t, image, probs)   # every processed frame, after the records it caused
    media.close()                          # finishes every clip (no more frames after), waits for the writer

A clip runs from `pre_s` before the event's start to `post_s` after its end (source times, as the
records give them), made of the frames the stream processed (its sample rate), encoded as VP8 WebM
(OpenCV's FFmpeg writer; every browser plays it). vc-run has decoded frames only, so it encodes; keeping
the camera's own packets is the service's job. The snapshot is the JPEG of the frame where the event's
label had its highest probability. Files: `<folder>/<stream>/<event id>.webm` and `.jpg`, written under a
temporary name and renamed once complete; both records of an event name them (`clip`, `snapshot`,
relative to the folder). Encoding runs in one writer thread behind a bounded queue: a full queue drops
the frame (counted in `dropped`), inference never waits for it. Retention, after each finished clip and
at start: files older than `days`, then the oldest while the folder's media exceed `max_mb`.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from lrcn.core.errors import LrcnError
from lrcn.runtime.sinks import parse_options
from lrcn.runtime.sinks.base import topic_part

MEDIA_SUFFIXES = (".webm", ".jpg")
QUEUE = 256
"""Frames waiting for the writer thread, all clips together."""


@dataclass
class MediaConfig:
    folder: Path
    pre_s: float = 3.0
    post_s: float = 3.0
    days: float = 0.0
    """Remove media older than this (0: no age limit)."""
    max_mb: float = 0.0
    """Remove the oldest media while the folder holds more than this (0: no size limit)."""

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        bad = [k for k in ("pre_s", "post_s", "days", "max_mb") if not getattr(self, k) >= 0]
        if bad:
            raise ValueError(f"--media {self.folder}: {', '.join(bad)} must be >= 0")

    @classmethod
    def from_spec(cls, spec: str) -> MediaConfig:
        folder, opts = parse_options(spec, {"pre_s": float, "post_s": float, "days": float, "max_mb": float})
        if not folder:
            raise ValueError(f"--media {spec}: expected a folder, e.g. media#pre_s=3,post_s=3,days=7,max_mb=500")
        return cls(Path(folder), **opts)


@dataclass
class _Clip:
    id: str
    stream: str
    label: str
    start: float
    path: Path
    snapshot: Path
    until: float | None = None
    """Source time after which the clip is complete (end + post_s); None while the event is open."""
    best: float = -1.0
    best_image: np.ndarray | None = field(default=None, repr=False)
    frames: int = 0
    size: tuple[int, int] = (0, 0)
    """The clip's frame size (the first frame's, even); later frames of another size are resized to it."""


class EventMedia:
    def __init__(self, config: MediaConfig, labels: list[str] | None = None, hold_s: float = 0.0):
        """`hold_s`: how long after an event's start its start record comes (the event config's min_event,
        with a margin): recent frames are kept pre_s + hold_s so that a clip can begin pre_s before it."""
        self.cfg = config
        self.labels = list(labels or [])
        self.keep_s = config.pre_s + hold_s
        try:
            self.cfg.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise LrcnError(f"--media {self.cfg.folder}: cannot create the folder ({e.strerror})") from None
        self._recent: dict[str, deque] = {}
        self._clips: dict[str, _Clip] = {}
        self.dropped = 0
        self.written: list[Path] = []
        """Clips and snapshots completed, in order."""
        self.errors: list[str] = []
        self._q: queue.Queue = queue.Queue(QUEUE)
        self._writers: dict[str, cv2.VideoWriter] = {}
        self._thread = threading.Thread(target=self._write_loop, name="event-media", daemon=True)
        self._thread.start()
        self.sweep()

    # -- the caller's side (the vc-run loop) --

    def frame(self, stream: str, t: float, image: np.ndarray, probs=None) -> None:
        """One processed frame of `stream` at source time `t` (with its probabilities, once the window is full)."""
        recent = self._recent.setdefault(stream, deque())
        recent.append((t, image, probs))
        while recent and recent[0][0] < t - self.keep_s - 1e-6:
            recent.popleft()
        for clip in list(self._clips.values()):
            if clip.stream != stream:
                continue
            if clip.until is not None and t > clip.until:
                self._finish(clip)
                continue
            self._add(clip, t, image, probs)

    def annotate(self, record: dict) -> dict:
        """An event record: its start opens the clip (with the frames from pre_s before the event), its end
        sets when the clip stops; both get `clip` and `snapshot` (paths relative to the media folder)."""
        if record.get("type") != "event":
            return record
        rid = str(record["id"])
        clip = self._clips.get(rid)
        if clip is None and record.get("phase") == "start":
            clip = self._open(record)
        if clip is None:  # an end whose start we did not see
            return record
        if record.get("phase") == "end":
            clip.until = float(record["end"]) + self.cfg.post_s
        record["clip"] = clip.path.relative_to(self.cfg.folder).as_posix()
        record["snapshot"] = clip.snapshot.relative_to(self.cfg.folder).as_posix()
        return record

    def close(self, timeout: float = 10.0) -> None:
        """Finish every clip with the frames it has, wait (bounded) for the writer, sweep."""
        for clip in list(self._clips.values()):
            self._finish(clip)
        try:
            self._q.put(None, timeout=timeout)
        except queue.Full:
            self.errors.append("the media writer did not keep up at the end; some clips are unfinished")
            return
        self._thread.join(timeout)

    # -- internals --

    def _open(self, record: dict) -> _Clip:
        stream, rid = str(record["stream"]), str(record["id"])
        folder = self.cfg.folder / topic_part(stream)
        folder.mkdir(parents=True, exist_ok=True)
        name = topic_part(rid)
        clip = _Clip(
            rid, stream, str(record["label"]), float(record["start"]), folder / f"{name}.webm", folder / f"{name}.jpg"
        )
        self._clips[rid] = clip
        self._put(("open", clip))
        for t, image, probs in self._recent.get(stream, ()):  # pre_s before the start, and the event so far
            if t >= clip.start - self.cfg.pre_s - 1e-6:
                self._add(clip, t, image, probs)
        return clip

    def _add(self, clip: _Clip, t: float, image: np.ndarray, probs) -> None:
        if t >= clip.start and probs is not None and clip.label in self.labels:
            p = float(probs[self.labels.index(clip.label)])
            if p > clip.best:
                clip.best, clip.best_image = p, image
        if self._put(("frame", clip, t, image)):
            clip.frames += 1

    def _finish(self, clip: _Clip) -> None:
        self._clips.pop(clip.id, None)
        self._put(("close", clip), block=True)

    def _put(self, item, block: bool = False) -> bool:
        try:
            self._q.put(item, block=block, timeout=5.0 if block else None)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def _write_loop(self) -> None:
        pending: dict[str, list] = {}
        """Frames of a clip before its writer opens (the frame rate comes from their times)."""
        while True:
            item = self._q.get()
            if item is None:
                return
            kind, clip = item[0], item[1]
            try:
                if kind == "open":
                    pending[clip.id] = []
                elif kind == "frame":
                    self._write_frame(clip, item[2], item[3], pending)
                else:
                    self._close_clip(clip, pending)
            except (OSError, cv2.error) as e:
                self.errors.append(f"{clip.path}: {e}")

    def _write_frame(self, clip: _Clip, t: float, image: np.ndarray, pending: dict) -> None:
        w = self._writers.get(clip.id)
        if w is None:
            frames = pending.setdefault(clip.id, [])
            frames.append((t, image))
            if len(frames) < 8:
                return
            w = self._open_writer(clip, frames)
            pending.pop(clip.id)
            return
        w.write(self._fit(image, clip))

    def _open_writer(self, clip: _Clip, frames: list) -> cv2.VideoWriter:
        span = frames[-1][0] - frames[0][0]
        fps = min(60.0, max(1.0, (len(frames) - 1) / span)) if span > 0 else 10.0
        h, w = frames[0][1].shape[:2]
        clip.size = (w - w % 2, h - h % 2)
        tmp = clip.path.with_name(clip.path.stem + ".part.webm")
        writer = cv2.VideoWriter(str(tmp), cv2.CAP_FFMPEG, cv2.VideoWriter.fourcc(*"VP80"), fps, clip.size)
        if not writer.isOpened():
            raise OSError("OpenCV cannot write VP8 WebM here")
        self._writers[clip.id] = writer
        for _, image in frames:
            writer.write(self._fit(image, clip))
        return writer

    @staticmethod
    def _fit(image: np.ndarray, clip: _Clip) -> np.ndarray:
        size = clip.size
        return image if (image.shape[1], image.shape[0]) == size else cv2.resize(image, size)

    def _close_clip(self, clip: _Clip, pending: dict) -> None:
        frames = pending.pop(clip.id, None)
        if frames:  # a short clip: its writer never opened
            self._open_writer(clip, frames)
        w = self._writers.pop(clip.id, None)
        if w is not None:
            w.release()
            os.replace(clip.path.with_name(clip.path.stem + ".part.webm"), clip.path)
            self.written.append(clip.path)
        if clip.best_image is not None:
            ok, jpg = cv2.imencode(".jpg", clip.best_image, [cv2.IMWRITE_JPEG_QUALITY, 85])
            if ok:
                tmp = clip.snapshot.with_name(clip.snapshot.stem + ".part.jpg")
                tmp.write_bytes(jpg.tobytes())
                os.replace(tmp, clip.snapshot)
                self.written.append(clip.snapshot)
        self.sweep()

    def sweep(self) -> list[Path]:
        """Apply retention to the folder's finished media (our suffixes, never a clip being written)."""
        files = []
        for p in self.cfg.folder.rglob("*"):
            if p.is_file() and p.suffix in MEDIA_SUFFIXES and ".part." not in p.name:
                try:
                    st = p.stat()
                except OSError:
                    continue
                files.append((st.st_mtime, st.st_size, p))
        files.sort()
        removed = []
        if self.cfg.days:
            cutoff = time.time() - self.cfg.days * 86400
            removed += [p for m, _, p in files if m < cutoff]
            files = [f for f in files if f[0] >= cutoff]
        if self.cfg.max_mb:
            total, limit = sum(s for _, s, _ in files), self.cfg.max_mb * 1e6
            for _, s, p in files:
                if total <= limit:
                    break
                removed.append(p)
                total -= s
        for p in removed:
            try:
                p.unlink()
            except OSError:
                pass
        return removed
