"""A source's compressed H.264 packets, kept so that an event clip is copied without re-encoding (as NVRs do).

`PacketRing` holds the recent packets of one source, each stamped with the source time of the frame it
carries (the time `Frame.t` gives), in a ring bounded by time and bytes: it keeps everything since the last
keyframe at or before `seconds` ago (a clip can always start on a keyframe at least that far back), and,
past `max_mb`, drops whole groups of pictures from the oldest (the ring always starts on a keyframe). The
source's decode thread appends; event media reads (`from_keyframe`, `since`) from another thread.

`remux_mp4` writes packets as they are into MP4 (no decode, no encode): the output stream takes the input's
codec parameters, timestamps start at 0, and the moov atom goes first. `playable` says whether a stream's
codec plays in every browser (H.264, 8-bit 4:2:0, no 4:2:2/4:4:4/10-bit profile); the others are encoded.
"""

from __future__ import annotations

import io
import os
import tempfile
import threading
from collections import deque
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

PACKET_OVERHEAD = 160
"""Bytes counted per packet beyond its payload (the Python objects around it)."""
PLAYABLE_PIX_FMTS = ("yuv420p", "yuvj420p")
PLAYABLE_PROFILES = ("baseline", "constrained baseline", "main", "high", "progressive high", "constrained high")


@dataclass(frozen=True)
class RingConfig:
    seconds: float = 10.0
    """Keep every packet since the last keyframe at or before this many seconds ago."""
    max_mb: float = 32.0
    """Hard bound on the ring's bytes: past it the oldest groups of pictures are dropped."""

    def __post_init__(self) -> None:
        if not (self.seconds >= 0 and self.max_mb > 0):
            raise ValueError(f"packet ring: seconds must be >= 0 and max_mb > 0, got {self.seconds}, {self.max_mb}")


class CodecParams:
    """The codec parameters of one opened input (a reconnect opens another): a template stream kept in an
    output container of our own that is never written, so it outlives the input container."""

    def __init__(self, av, stream) -> None:
        self._holder = av.open(io.BytesIO(), mode="w", format="mp4")
        self.template = self._holder.add_stream_from_template(stream)
        self.time_base: Fraction = stream.time_base or Fraction(1, 90000)
        self.codec: str = stream.codec_context.name
        self.width = int(stream.codec_context.width or 0)
        self.height = int(stream.codec_context.height or 0)
        self.why_not = playable(stream)
        """"" when a browser plays the codec, else why not (such a source's clips are encoded)."""


def playable(stream) -> str:
    """ "" when every browser plays this video stream's codec as it is, else the reason."""
    ctx = stream.codec_context
    if ctx.name != "h264":
        return f"{ctx.name} is not H.264"
    fmt = getattr(ctx, "pix_fmt", None) or getattr(ctx, "format", None) and ctx.format.name
    if fmt and fmt not in PLAYABLE_PIX_FMTS:
        return f"H.264 in {fmt}, not 8-bit 4:2:0"
    profile = (getattr(ctx, "profile", None) or "").lower()
    if profile and profile not in PLAYABLE_PROFILES:
        return f"the H.264 {profile} profile"
    return ""


@dataclass(frozen=True, slots=True)
class Packet:
    seq: int
    """Position in the source (appends so far); a gap between two packets read means ones were dropped."""
    t: float
    """Source time of the frame it carries (as `Frame.t`)."""
    data: bytes = field(repr=False)
    pts: int | None
    dts: int | None
    key: bool
    params: CodecParams = field(repr=False)


class PacketRing:
    def __init__(self, config: RingConfig | None = None):
        self.cfg = config or RingConfig()
        self._q: deque[Packet] = deque()
        self._lock = threading.Lock()
        self.bytes = 0
        self.seq = 0
        """Packets appended so far (the next one's seq)."""
        self.dropped = 0
        """Packets discarded by the byte bound (or that arrived with no keyframe before them)."""

    def need(self, seconds: float) -> None:
        """Keep at least `seconds` back (event media asks for its pre_s plus the start record's delay)."""
        with self._lock:
            if seconds > self.cfg.seconds:
                self.cfg = RingConfig(seconds, self.cfg.max_mb)

    def append(self, t: float, data: bytes, pts: int | None, dts: int | None, key: bool, params: CodecParams) -> None:
        with self._lock:
            p = Packet(self.seq, t, data, pts, dts, key, params)
            self.seq += 1
            if not self._q and not key:  # not decodable without the keyframe before it
                self.dropped += 1
                return
            self._q.append(p)
            self.bytes += len(data) + PACKET_OVERHEAD
            self._evict(t)

    def _evict(self, now: float) -> None:
        q, limit = self._q, self.cfg.max_mb * 1e6
        while True:  # time: drop a group of pictures once the next keyframe is itself old enough
            nxt = next((p for i, p in enumerate(q) if i and p.key), None)
            if nxt is None or nxt.t > now - self.cfg.seconds:
                break
            self._drop_until(nxt.seq)
        while self.bytes > limit and q:  # bytes: the oldest group of pictures, or everything
            nxt = next((p for i, p in enumerate(q) if i and p.key), None)
            self._drop_until(nxt.seq if nxt is not None else q[-1].seq + 1, count=True)

    def _drop_until(self, seq: int, count: bool = False) -> None:
        while self._q and self._q[0].seq < seq:
            p = self._q.popleft()
            self.bytes -= len(p.data) + PACKET_OVERHEAD
            self.dropped += count

    def __len__(self) -> int:
        return len(self._q)

    def span(self) -> float:
        with self._lock:
            return self._q[-1].t - self._q[0].t if self._q else 0.0

    def from_keyframe(self, t: float) -> list[Packet]:
        """Every packet from the last keyframe at or before `t` (the first keyframe held, when none is)."""
        with self._lock:
            items = list(self._q)
        start = 0
        for i, p in enumerate(items):
            if p.key and p.t <= t + 1e-6:
                start = i
            elif p.t > t:
                break
        return items[start:]

    def since(self, seq: int) -> list[Packet]:
        """Packets with seq >= `seq` still held (the first one's seq > `seq` when some were dropped)."""
        with self._lock:
            if not self._q or self._q[-1].seq < seq:
                return []
            first = self._q[0].seq
            return list(self._q)[max(0, seq - first) :] if seq >= first else list(self._q)


def check_run(packets: list[Packet]) -> str:
    """ "" when `packets` can be copied as one clip: a keyframe first, no gap, one input, a playable codec."""
    if not packets:
        return "no packets"
    if not packets[0].key:
        return "no keyframe at the clip's start"
    params = packets[0].params
    if params.why_not:
        return params.why_not
    for a, b in zip(packets, packets[1:]):
        if b.seq != a.seq + 1:
            return f"{b.seq - a.seq - 1} packet(s) dropped from the ring during the clip"
        if b.params is not params:
            return "the source reconnected during the clip"
    return ""


def remux_mp4(av, path: Path, packets: list[Packet], *, comment: str = "") -> None:
    """`packets` (checked by `check_run`) as they are into an MP4 at `path` (temp file, then renamed):
    the input's codec parameters, timestamps rebased to 0, moov first."""
    params = packets[0].params
    tb = params.time_base
    stamped = all(p.pts is not None and p.dts is not None for p in packets)
    if stamped:  # the container's own timestamps, shifted so that the first dts is 0
        d0 = min(p.dts for p in packets)  # type: ignore[type-var]
        times = [(p.pts - d0, p.dts - d0) for p in packets]  # type: ignore[operator]
    else:  # no timestamps: the packets' source times (frames in decode order, no reordering assumed)
        tb = Fraction(1, 90000)
        times, last = [], -1
        for p in packets:
            v = max(last + 1, round((p.t - packets[0].t) / tb))
            times.append((v, v))
            last = v
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".mp4", dir=path.parent)
    os.close(fd)
    try:
        with av.open(tmp, mode="w", format="mp4", options={"movflags": "+faststart"}) as out:
            if comment:
                out.metadata["comment"] = comment
            vs = out.add_stream_from_template(params.template)
            vs.time_base = tb
            for p, (pts, dts) in zip(packets, times):
                pkt = av.Packet(p.data)
                pkt.stream, pkt.time_base, pkt.pts, pkt.dts = vs, tb, pts, dts
                pkt.is_keyframe = p.key
                out.mux(pkt)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
