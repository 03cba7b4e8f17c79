"""Event media: a clip and a snapshot per event, in a folder with retention (`vc-run --media DIR`).

    media = EventMedia(MediaConfig.from_spec("media#pre_s=3,post_s=3,days=7,max_mb=500"))
    media.annotate(record)                 # an event record: opens/ends its clip, names the files
    media.frame(stream, t, image, probs)   # every processed frame, after the records it caused
    media.close()                          # finishes every clip (no more frames after), waits for the writer

A clip runs from `pre_s` before the event's start to `post_s` after its end (source times, as the
records give them), made of the frames the stream processed (its sample rate), kept as JPEG bytes (memory bounded per
stream: at most pre_s + hold_s + 1 s of recent frames, and an event at most MAX_EVENT_FRAMES), encoded
as H.264 (yuv420p) in MP4 with the moov atom first through PyAV (the `media` extra; every browser,
Safari included, plays it). Without PyAV only snapshots are written, and `errors` says so once. The
snapshot is the JPEG of the frame where the event's label had its highest probability. Files:
`<folder>/<event id>.mp4` and `.jpg` (`media_paths`: names only from ids matching EVENT_ID), written
under a temporary name and renamed once complete; both records of an event name them (`clip`,
`snapshot`, relative to the folder). Encoding runs in one writer thread behind a bounded queue of
finished clips: a full queue drops the clip (counted in `dropped`), inference never waits for it. Retention, after each finished clip and
at start: files older than `days`, then the oldest while the folder's media exceed `max_mb`.

Copy, not encode, where the source allows it: a source that keeps its compressed packets (`frame(...,
packets=ring)`, a `packets.PacketRing` filled by `packet_source.PacketSource`: rtsp:// cameras and
.mp4/.mkv/.mov files when `copy=1`, the default) gives its clips as the camera's own H.264 packets, from the
last keyframe at or before pre_s before the event to post_s after its end, remuxed into MP4 (no decode, no
encode; `packets.remux_mp4`). Such a clip is the source's whole view (a zone's encoded clip is its crop).
A clip that cannot be copied (another codec, no packets: MJPEG over HTTP, cameras by index; packets lost
from the ring, a reconnect in the clip) is encoded as above. Both event records say which (`clip_via`,
"copy" or "encode", as far as known when the record is made); the MP4's `comment` tag and `made` (the
last MADE_KEPT clips: via, why not copied, writer CPU ms) say what finally made the file.
"""

from __future__ import annotations

import os
import queue
import re
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from lrcn.core.errors import LrcnError
from lrcn.runtime.packets import Packet, PacketRing, check_run, remux_mp4
from lrcn.runtime.sinks import parse_options

EVENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
"""Event ids as the detector makes them (`<run_id>-<n>`); a file name is made only from such an id."""
MEDIA_SUFFIXES = (".mp4", ".jpg")
QUEUE = 16
"""Finished clips waiting for the writer thread."""
MAX_EVENT_FRAMES = 3000
"""Frames one clip keeps at most (later ones are dropped; its peak frame is still tracked)."""
JPEG_QUALITY = 85
MAX_CLIP_MB = 128
"""Packets one copied clip keeps at most (later ones are left out: the clip ends there)."""
MADE_KEPT = 1000


def media_paths(folder: Path, event_id: str) -> tuple[Path, Path]:
    """(clip, snapshot) of an event; ValueError for an id that is not an event id (no path from input)."""
    if not EVENT_ID.match(event_id):
        raise ValueError(f"not an event id: {event_id!r}")
    return folder / f"{event_id}.mp4", folder / f"{event_id}.jpg"


@dataclass
class MediaConfig:
    folder: Path
    pre_s: float = 3.0
    post_s: float = 3.0
    days: float = 0.0
    """Remove media older than this (0: no age limit)."""
    max_mb: float = 0.0
    """Remove the oldest media while the folder holds more than this (0: no size limit)."""
    copy: bool = True
    """Copy the source's H.264 packets into the clip where it has them (vc-run then reads rtsp:// and
    .mp4/.mkv/.mov sources with PyAV); False: always encode."""
    ring_mb: float = 32.0
    """Per source, the most bytes of packets kept for clips to start from."""

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        bad = [k for k in ("pre_s", "post_s", "days", "max_mb", "ring_mb") if not getattr(self, k) >= 0]
        if bad:
            raise ValueError(f"--media {self.folder}: {', '.join(bad)} must be >= 0")

    @classmethod
    def from_spec(cls, spec: str) -> MediaConfig:
        kinds = {"pre_s": float, "post_s": float, "days": float, "max_mb": float, "copy": int, "ring_mb": float}
        folder, opts = parse_options(spec, kinds)
        if not folder:
            raise ValueError(f"--media {spec}: expected a folder, e.g. media#pre_s=3,post_s=3,days=7,max_mb=500")
        if opts.get("copy", 1) not in (0, 1):
            raise ValueError(f"--media {spec}: copy is 0 or 1")
        if "copy" in opts:
            opts["copy"] = bool(opts["copy"])
        return cls(Path(folder), **opts)

    def ring(self, hold_s: float):
        """The packet ring a copying source keeps (None when clips are always encoded)."""
        from lrcn.runtime.packets import RingConfig

        return RingConfig(self.pre_s + hold_s + 1.0, self.ring_mb) if self.copy and self.ring_mb > 0 else None


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
    best_jpeg: bytes = field(default=b"", repr=False)
    frames: list[tuple[float, bytes]] = field(default_factory=list, repr=False)
    ring: PacketRing | None = field(default=None, repr=False)
    packets: list[Packet] = field(default_factory=list, repr=False)
    packet_bytes: int = 0
    why_not: str = "the source keeps no packets"
    """Why the clip is not copied ("" while it can be)."""


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
        self._rings: dict[str, PacketRing] = {}
        self.made: deque[dict] = deque(maxlen=MADE_KEPT)
        """The last clips written: {"id", "via": "copy" | "encode", "why" (not copied), "cpu_ms" (writer thread)}."""
        self.dropped = 0
        self.written: list[Path] = []
        """Clips and snapshots completed, in order."""
        self.errors: list[str] = []
        self._q: queue.Queue = queue.Queue(QUEUE)
        self._av = _load_av()
        if self._av is None:
            self.errors.append("clips need PyAV (pip install 'lrcn[media]'): snapshots only")
        self._thread = threading.Thread(target=self._write_loop, name="event-media", daemon=True)
        self._thread.start()
        self.sweep()

    # -- the caller's side (the vc-run loop) --

    def frame(self, stream: str, t: float, image: np.ndarray, probs=None, packets: PacketRing | None = None) -> None:
        """One processed frame of `stream` at source time `t` (with its probabilities, once the window is full);
        `packets`: the source's packet ring, when it keeps one (clips are then copied from it)."""
        if packets is not None and self.cfg.copy and self._rings.get(stream) is not packets:
            self._rings[stream] = packets
            packets.need(self.keep_s + 1.0)
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        jpeg = buf.tobytes() if ok else b""
        recent = self._recent.setdefault(stream, deque())
        recent.append((t, jpeg, probs))
        while recent and recent[0][0] < t - self.keep_s - 1e-6:
            recent.popleft()
        for clip in list(self._clips.values()):
            if clip.stream != stream:
                continue
            self._pull(clip)
            if clip.until is not None and t > clip.until:
                self._finish(clip)
                continue
            self._add(clip, t, jpeg, probs)

    def annotate(self, record: dict) -> dict:
        """An event record: its start opens the clip (with the frames from pre_s before the event), its end
        sets when the clip stops; both get `clip` and `snapshot` (paths relative to the media folder)."""
        if record.get("type") != "event" or not EVENT_ID.match(str(record.get("id", ""))):
            return record
        rid = str(record["id"])
        clip = self._clips.get(rid)
        if clip is None and record.get("phase") == "start":
            clip = self._open(record)
        if clip is None:  # an end whose start we did not see
            return record
        if record.get("phase") == "end":
            clip.until = float(record["end"]) + self.cfg.post_s
        self._pull(clip)
        record["clip_via"] = None if self._av is None else ("encode" if clip.why_not else "copy")
        record["clip"] = clip.path.relative_to(self.cfg.folder).as_posix() if self._av is not None else None
        record["snapshot"] = clip.snapshot.relative_to(self.cfg.folder).as_posix()
        return record

    def close(self, timeout: float = 10.0) -> None:
        """Finish every clip with the frames it has, wait (bounded) for the writer, sweep."""
        for clip in list(self._clips.values()):
            self._pull(clip)
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
        path, snapshot = media_paths(self.cfg.folder, rid)
        clip = _Clip(rid, stream, str(record["label"]), float(record["start"]), path, snapshot)
        self._clips[rid] = clip
        ring = self._rings.get(stream)
        if ring is not None:
            clip.ring = ring
            clip.packets = ring.from_keyframe(clip.start - self.cfg.pre_s)
            clip.packet_bytes = sum(len(p.data) for p in clip.packets)
            clip.why_not = check_run(clip.packets)
            # the frames held reach further back than the packets (the ring's byte bound): encode them instead
            held = [t for t, _, _ in self._recent.get(stream, ()) if t >= clip.start - self.cfg.pre_s - 1e-6]
            if not clip.why_not and held and clip.packets[0].t > held[0] + 0.5:
                clip.why_not = "the packet ring holds less of the time before the event than the frames kept"
        for t, image, probs in self._recent.get(stream, ()):  # pre_s before the start, and the event so far
            if t >= clip.start - self.cfg.pre_s - 1e-6:
                self._add(clip, t, image, probs)
        return clip

    def _add(self, clip: _Clip, t: float, jpeg: bytes, probs) -> None:
        if not jpeg:
            return
        if t >= clip.start and probs is not None and clip.label in self.labels:
            p = float(probs[self.labels.index(clip.label)])
            if p > clip.best:
                clip.best, clip.best_jpeg = p, jpeg
        if len(clip.frames) < MAX_EVENT_FRAMES:
            clip.frames.append((t, jpeg))
        else:
            self.dropped += 1

    def _pull(self, clip: _Clip) -> None:
        """The packets the source kept since the clip last looked, up to its end (post_s after the event's)."""
        if clip.ring is None or clip.why_not or not clip.packets:
            return
        new = clip.ring.since(clip.packets[-1].seq + 1)
        if clip.until is not None:  # up to the first packet past the end, in decode order (B-frames stay decodable)
            cut = next((i for i, p in enumerate(clip.packets) if p.t > clip.until + 1e-6), None)
            if cut is not None:  # pulled before the end was known
                del clip.packets[max(cut, 1) :]
                clip.ring, new = None, []
            cut = next((i for i, p in enumerate(new) if p.t > clip.until + 1e-6), None)
            if cut is not None:
                new, clip.ring = new[:cut], None
        for p in new:
            if clip.packet_bytes + len(p.data) > MAX_CLIP_MB * 1e6:
                clip.ring = None  # the clip ends here
                break
            clip.packets.append(p)
            clip.packet_bytes += len(p.data)
        clip.why_not = check_run(clip.packets)

    def _finish(self, clip: _Clip) -> None:
        self._clips.pop(clip.id, None)
        try:
            self._q.put(clip, timeout=5.0)
        except queue.Full:
            self.dropped += len(clip.frames)
            self.errors.append(f"{clip.path}: the media writer is behind; clip skipped")

    def _write_loop(self) -> None:
        while True:
            clip = self._q.get()
            if clip is None:
                return
            try:
                self._write(clip)
            except Exception as e:  # noqa: BLE001 - one clip failing never stops the stream or the others
                self.errors.append(f"{clip.path}: {type(e).__name__}: {e}".splitlines()[0][:200])

    def _write(self, clip: _Clip) -> None:
        if self._av is not None and (clip.frames or clip.packets):
            cpu, via, why = time.thread_time(), "copy", clip.why_not or check_run(clip.packets)
            if not why:
                try:
                    remux_mp4(self._av, clip.path, clip.packets, comment="lrcn: copy")
                except Exception as e:  # noqa: BLE001 - a muxer refusal: the frames are still there to encode
                    why = f"remux failed ({type(e).__name__}: {e})".splitlines()[0][:200]
            if why:
                via = "encode"
                if not clip.frames:
                    raise ValueError(f"not copied ({why}) and no frame to encode")
                _encode_mp4(self._av, clip.path, clip.frames)
            self.made.append(
                {"id": clip.id, "via": via, "why": why, "cpu_ms": round((time.thread_time() - cpu) * 1e3, 2)}
            )
            self.written.append(clip.path)
        snap = clip.best_jpeg or (clip.frames[len(clip.frames) // 2][1] if clip.frames else b"")
        if snap:
            _atomic_bytes(clip.snapshot, snap)
            self.written.append(clip.snapshot)
        self.sweep()

    def sweep(self) -> list[Path]:
        """Apply retention to the folder's finished media (our suffixes, never a clip being written)."""
        files = []
        for p in self.cfg.folder.iterdir():
            if p.suffix in MEDIA_SUFFIXES and EVENT_ID.match(p.stem) and p.is_file() and not p.is_symlink():
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


def _encode_mp4(av, path: Path, frames: list[tuple[float, bytes]]) -> None:
    """H.264 (yuv420p) in MP4 with the moov atom first, timed by each frame's source time."""
    decoded = [(t, cv2.imdecode(np.frombuffer(j, np.uint8), cv2.IMREAD_COLOR)) for t, j in frames]
    pairs = [(k, img) for k, img in decoded if img is not None]
    if not pairs:
        raise ValueError("no frame decodes")
    h, w = pairs[0][1].shape[:2]
    w2, h2 = w - w % 2, h - h % 2  # yuv420p needs even sizes
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".mp4", dir=path.parent)
    os.close(fd)
    try:
        span = pairs[-1][0] - pairs[0][0]
        rate = min(60, max(1, round((len(pairs) - 1) / span))) if span > 0 else 10
        with av.open(tmp, mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            out.metadata["comment"] = "lrcn: encode"
            vs = out.add_stream("libx264", rate=rate)
            vs.width, vs.height, vs.pix_fmt = w2, h2, "yuv420p"
            vs.options = {"preset": "veryfast", "crf": "26"}
            vs.codec_context.time_base = _fraction(1, 1000)
            t0 = pairs[0][0]
            last_pts = -1
            for k, img in pairs:
                if img.shape[:2] != (h, w):
                    img = cv2.resize(img, (w, h))
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img[:h2, :w2]), format="bgr24")
                pts = max(last_pts + 1, round((k - t0) * 1000))
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
