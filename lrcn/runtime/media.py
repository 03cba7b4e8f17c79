"""Event media: a clip from `pre_s` before an event to `post_s` after it, and a JPEG of its peak frame.

Torch-free and engine-independent, like the event layer: feed it frames (`frame`), predictions
(`prediction`) and the event records the router emits (`record`), per stream, in source time.

    media = EventMedia(MediaConfig(Path("media")), labels, start_delay_s=events.min_event)
    media.frame("door", t, bgr)                 # every frame the stream samples (kept at cfg.fps)
    media.prediction("door", t, probs)          # marks the peak frame of each open event
    rec = media.record(rec)                     # an event record: gains "clip" and "snapshot" names
    media.close()                               # finishes every clip in flight, then returns

Memory is bounded per stream: the ring holds `pre_s` seconds of JPEG-encoded frames at `fps`
and at most `max_width` pixels wide, and an event keeps at most `max_event_s` seconds of them.
Clips are H.264 in MP4 (yuv420p, moov atom first: browsers play them as they download), encoded
through PyAV in one background thread; without PyAV (the `media` extra) only snapshots are
written and `clips` says why once. Every file goes to a temp name and is `os.replace`d, so a
reader never sees half a file. Retention removes the oldest files first, by age and total size.
"""

from __future__ import annotations

import os
import queue
import re
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""Event ids as the detector makes them (`<run_id>-<n>`); a file name is made only from such an id."""
MEDIA_SUFFIXES = (".mp4", ".jpg")
WRITE_QUEUE = 16
"""Clips waiting for the encoder at most; past that an event gets its snapshot and no clip."""


@dataclass(frozen=True)
class MediaConfig:
    """Where event media goes and how much of it is kept."""

    folder: Path
    pre_s: float = 3.0
    """Seconds of video before the event's start in its clip."""
    post_s: float = 3.0
    """Seconds after its end."""
    fps: float = 10.0
    """Frames per second kept for clips (a stream sampling fewer keeps what it samples)."""
    max_width: int = 640
    """Frames wider than this are shrunk before they are kept."""
    max_event_s: float = 120.0
    """An event longer than this keeps its first `max_event_s` seconds (and its peak frame)."""
    keep_days: float | None = 7.0
    """Media older than this is removed (None: no age limit)."""
    keep_bytes: int | None = 2 * 1024**3
    """The folder's media is kept under this many bytes, oldest removed first (None: no limit)."""
    jpeg_quality: int = 85

    def __post_init__(self) -> None:
        if self.pre_s < 0 or self.post_s < 0:
            raise ValueError(f"pre_s and post_s must be >= 0, got {self.pre_s} and {self.post_s}")
        if not 0 < self.fps <= 60:
            raise ValueError(f"media fps must be in (0, 60], got {self.fps}")
        if not 16 <= self.max_width <= 8192:
            raise ValueError(f"media max_width must be in [16, 8192], got {self.max_width}")
        if self.max_event_s <= 0:
            raise ValueError(f"max_event_s must be > 0, got {self.max_event_s}")
        if self.keep_days is not None and self.keep_days <= 0:
            raise ValueError(f"keep_days must be > 0, got {self.keep_days}")
        if self.keep_bytes is not None and self.keep_bytes <= 0:
            raise ValueError(f"keep_bytes must be > 0, got {self.keep_bytes}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be in [1, 100], got {self.jpeg_quality}")


@dataclass
class _Kept:
    t: float
    jpeg: bytes


@dataclass
class _Recording:
    """One event's frames from pre_s before its start until post_s after its end."""

    id: str
    label: int
    start: float
    frames: list[_Kept]
    end: float | None = None
    peak: float = -1.0
    peak_t: float = 0.0
    dropped: int = 0


@dataclass
class MediaCounts:
    clips: int = 0
    snapshots: int = 0
    failed: int = 0
    removed: int = 0
    notes: list[str] = field(default_factory=list)


def media_paths(folder: Path, event_id: str) -> tuple[Path, Path]:
    """(clip, snapshot) of an event; ValueError for an id that is not an event id (no path from input)."""
    if not EVENT_ID.match(event_id):
        raise ValueError(f"not an event id: {event_id!r}")
    return folder / f"{event_id}.mp4", folder / f"{event_id}.jpg"


class EventMedia:
    """Clips and snapshots of events, per stream (see the module docstring)."""

    def __init__(self, config: MediaConfig, labels: Sequence[str], *, start_delay_s: float = 0.0):
        """`start_delay_s`: how late a `start` record comes after the event's start (the event
        layer's `min_event`), so the ring keeps pre_s seconds before the start, not before the record."""
        self.cfg = config
        self._ring_len = max(1, int((config.pre_s + max(0.0, start_delay_s)) * config.fps) + 2)
        self.labels = list(labels)
        self.folder = Path(config.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.counts = MediaCounts()
        self._rings: dict[str, deque[_Kept]] = {}
        self._last_kept: dict[str, float] = {}
        self._open: dict[str, dict[str, _Recording]] = {}
        self._lock = threading.Lock()
        self._jobs: queue.Queue[_Recording | None] = queue.Queue(WRITE_QUEUE)
        self._av = _load_av()
        if self._av is None:
            self.counts.notes.append("clips need PyAV (pip install 'lrcn[media]'): snapshots only")
        self._writer = threading.Thread(target=self._write_loop, name="lrcn-media", daemon=True)
        self._writer.start()

    # ------------------------------------------------------------------ inputs

    def frame(self, stream: str, t: float, bgr: np.ndarray) -> None:
        """A frame of `stream` at source time t (BGR uint8, as decoded); kept at `fps` at most."""
        step = 1.0 / self.cfg.fps
        last = self._last_kept.get(stream)
        if last is not None and t - last < step - 1e-6:
            return
        kept = _Kept(t, self._encode(bgr))
        self._last_kept[stream] = t
        ring = self._rings.setdefault(stream, deque(maxlen=self._ring_len))
        ring.append(kept)
        done = []
        for rec in self._open.get(stream, {}).values():
            if t - rec.start > self.cfg.max_event_s and (rec.end is None or t <= rec.end):
                rec.dropped += 1
            else:
                rec.frames.append(kept)
            if rec.end is not None and t >= rec.end + self.cfg.post_s:
                done.append(rec)
        for rec in done:
            self._finish(stream, rec)

    def prediction(self, stream: str, t: float, probs: Sequence[float] | np.ndarray) -> None:
        """A prediction of `stream` at t: the open events of its labels note their peak frame."""
        for rec in self._open.get(stream, {}).values():
            p = float(probs[rec.label])
            if rec.end is None and p > rec.peak:
                rec.peak, rec.peak_t = p, t

    def record(self, rec: dict) -> dict:
        """An event record from the router -> the same record with `clip` and `snapshot` file names.

        `start` opens a recording (the ring's last pre_s seconds first); `end` marks its end, and the
        clip is written once frames reach end + post_s (or at `end_stream`/`close`).
        """
        if rec.get("type") != "event" or not EVENT_ID.match(str(rec.get("id", ""))):
            return rec
        stream, eid = str(rec.get("stream", "")), str(rec["id"])
        clip, snap = media_paths(self.folder, eid)
        out = {**rec, "clip": clip.name if self._av is not None else None, "snapshot": snap.name}
        if rec.get("phase") == "start":
            label = self.labels.index(rec["label"]) if rec.get("label") in self.labels else 0
            start = float(rec["start"])
            pre = [k for k in self._rings.get(stream, ()) if k.t >= start - self.cfg.pre_s - 1e-6]
            r = _Recording(eid, label, start, pre, peak=float(rec.get("peak", 0.0)), peak_t=start)
            self._open.setdefault(stream, {})[eid] = r
        elif rec.get("phase") == "end":
            ended = self._open.get(stream, {}).get(eid)
            if ended is not None:
                ended.end = float(rec["end"])
        return out

    def end_stream(self, stream: str) -> None:
        """The stream ended: its recordings are written with what they have."""
        for rec in list(self._open.get(stream, {}).values()):
            self._finish(stream, rec)
        self._rings.pop(stream, None)
        self._last_kept.pop(stream, None)

    def close(self, timeout: float = 30.0) -> MediaCounts:
        """Write every recording in flight, wait for the encoder (at most `timeout` s), prune."""
        for stream in list(self._open):
            self.end_stream(stream)
        try:
            self._jobs.put(None, timeout=timeout)
        except queue.Full:
            self.counts.notes.append("media writer did not drain in time")
        self._writer.join(timeout)
        return self.counts

    # ------------------------------------------------------------------ writing

    def _encode(self, bgr: np.ndarray) -> bytes:
        h, w = bgr.shape[:2]
        if w > self.cfg.max_width:
            size = (self.cfg.max_width, max(2, round(h * self.cfg.max_width / w)))
            bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        if bgr.ndim == 2 or bgr.shape[2] == 1:
            bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
        elif bgr.shape[2] == 4:
            bgr = cv2.cvtColor(bgr, cv2.COLOR_BGRA2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, self.cfg.jpeg_quality])
        return buf.tobytes() if ok else b""

    def _finish(self, stream: str, rec: _Recording) -> None:
        self._open.get(stream, {}).pop(rec.id, None)
        try:
            self._jobs.put_nowait(rec)
        except queue.Full:
            with self._lock:
                self.counts.failed += 1
                self.counts.notes.append(f"{rec.id}: the media writer is behind; clip skipped")
            self._write_snapshot(rec)

    def _write_loop(self) -> None:
        while True:
            rec = self._jobs.get()
            if rec is None:
                return
            self._write_snapshot(rec)
            if self._av is not None:
                self._write_clip(rec)
            self._prune()

    def _write_snapshot(self, rec: _Recording) -> None:
        frames = [k for k in rec.frames if k.jpeg]
        if not frames:
            return
        best = min(frames, key=lambda k: abs(k.t - rec.peak_t))
        _, snap = media_paths(self.folder, rec.id)
        try:
            _atomic_bytes(snap, best.jpeg)
            with self._lock:
                self.counts.snapshots += 1
        except OSError as e:
            with self._lock:
                self.counts.failed += 1
                self.counts.notes.append(f"{snap}: {e.strerror or e}")

    def _write_clip(self, rec: _Recording) -> None:
        frames = [k for k in rec.frames if k.jpeg]
        if not frames:
            return
        clip, _ = media_paths(self.folder, rec.id)
        try:
            _encode_mp4(self._av, clip, frames, self.cfg.fps)
            with self._lock:
                self.counts.clips += 1
        except Exception as e:  # noqa: BLE001 - one clip failing never stops the stream or the others
            with self._lock:
                self.counts.failed += 1
                self.counts.notes.append(f"{clip}: {type(e).__name__}: {e}".splitlines()[0][:200])

    def _prune(self) -> None:
        removed = prune_media(self.folder, self.cfg.keep_days, self.cfg.keep_bytes)
        with self._lock:
            self.counts.removed += removed


def prune_media(folder: Path, keep_days: float | None, keep_bytes: int | None, *, now: float | None = None) -> int:
    """Remove event media older than keep_days, then the oldest until the rest fits keep_bytes.

    Only regular files named like event media (`<id>.mp4`, `<id>.jpg`) are touched. Returns how many went.
    """
    now = time.time() if now is None else now
    files = []
    for p in Path(folder).iterdir():
        if p.suffix not in MEDIA_SUFFIXES or not EVENT_ID.match(p.stem):
            continue
        try:
            st = p.lstat()
        except OSError:
            continue
        if os.path.islink(p) or not p.is_file():
            continue
        files.append((st.st_mtime, st.st_size, p))
    files.sort()  # oldest first
    removed = 0
    total = sum(size for _, size, _ in files)
    for mtime, size, p in files:
        too_old = keep_days is not None and now - mtime > keep_days * 86400
        too_big = keep_bytes is not None and total > keep_bytes
        if not (too_old or too_big):
            break  # oldest first: the newer ones are younger, and the total only shrank
        try:
            p.unlink()
            removed += 1
            total -= size
        except OSError:
            pass
    return removed


def _load_av():
    try:
        import av  # optional: the `media` extra
    except ImportError:
        return None
    return av


def _atomic_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _encode_mp4(av, path: Path, frames: list[_Kept], fps: float) -> None:
    """H.264 (yuv420p) in MP4 with the moov atom first, timed by each frame's source time."""
    decoded = [(k, cv2.imdecode(np.frombuffer(k.jpeg, np.uint8), cv2.IMREAD_COLOR)) for k in frames]
    pairs = [(k, img) for k, img in decoded if img is not None]
    if not pairs:
        raise ValueError("no frame decodes")
    h, w = pairs[0][1].shape[:2]
    w2, h2 = w - w % 2, h - h % 2  # yuv420p needs even sizes
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".mp4", dir=path.parent)
    os.close(fd)
    try:
        rate = max(1, round(fps))
        with av.open(tmp, mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            vs = out.add_stream("libx264", rate=rate)
            vs.width, vs.height, vs.pix_fmt = w2, h2, "yuv420p"
            vs.options = {"preset": "veryfast", "crf": "26"}
            vs.codec_context.time_base = _fraction(1, 1000)
            t0 = pairs[0][0].t
            last_pts = -1
            for k, img in pairs:
                if img.shape[:2] != (h, w):
                    img = cv2.resize(img, (w, h))
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:h2, :w2]), format="bgr24")
                pts = max(last_pts + 1, round((k.t - t0) * 1000))
                vf.pts, vf.time_base, last_pts = pts, _fraction(1, 1000), pts
                for pkt in vs.encode(vf):
                    out.mux(pkt)
            for pkt in vs.encode(None):
                out.mux(pkt)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _fraction(a: int, b: int):
    from fractions import Fraction

    return Fraction(a, b)
