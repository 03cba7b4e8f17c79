"""A FrameSource read with PyAV that also keeps the compressed packets (`packets.PacketRing`) for event clips.

Used for rtsp:// cameras and .mp4/.mkv/.mov files when event media copies clips (`open_source(packets=...)`);
OpenCV stays the reader otherwise. One demux, one decode: every packet is decoded once for inference and,
when the stream is browser-playable H.264, kept as it is in the ring. Frame and packet times are the same
clock (`Frame.t`): a file's presentation time from its start; for a camera, seconds since the source
opened, anchored at the first packet's arrival and advanced by the stream's timestamps (re-anchored on a
reconnect or a jump of more than RESYNC_S).

Delivery follows the other sources: a file's every frame in order (the decoder a few frames ahead, a wait
bounded by `timeout_s`); a camera's newest frame only, read by its own thread, reopened with backoff after
a drop, as `sources.LiveSource` does.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from lrcn.core.errors import LrcnError, SourceError, VideoError
from lrcn.core.paths import STREAM_TIMEOUT_S
from lrcn.runtime.decode import (
    ASSUMED_FPS,
    StopFlag,
    check_frame_size,
    join_stopped,
    native_path,
    start_owned,
    usable_fps,
)
from lrcn.runtime.newest import Frame, NewestFrames
from lrcn.runtime.packets import CodecParams, PacketRing, RingConfig
from lrcn.runtime.sinks import display_url

COPY_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv")
"""Files read by PyAV (with their packets kept) when clips are copied; other files stay with OpenCV."""
COPY_SCHEMES = ("rtsp", "rtsps")
RESYNC_S = 5.0
"""A camera's stream time further than this from its arrival time is re-anchored."""
MAX_BACKOFF_S = 8.0
AHEAD = 4


def copies(target: str) -> bool:
    """True for the sources this reader takes: rtsp(s):// URLs and .mp4/.mkv/.mov files."""
    if "://" in target:
        return target.split("://", 1)[0].lower() in COPY_SCHEMES
    return Path(target).suffix.lower() in COPY_SUFFIXES


def rtsp_options(timeout_s: float) -> dict[str, str]:
    """FFmpeg's RTSP options: TCP unless OPENCV_FFMPEG_CAPTURE_OPTIONS asks otherwise (as OpenCV reads it)."""
    transport = "tcp"
    for item in os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS", "").split("|"):
        key, _, value = item.partition(";")
        if key.strip() == "rtsp_transport" and value.strip() in ("tcp", "udp", "http", "https"):
            transport = value.strip()
    return {"rtsp_transport": transport, "timeout": str(max(1, int(timeout_s * 1e6)))}


class _Clock:
    """Stream timestamps -> source seconds (see the module docstring)."""

    def __init__(self, live: bool, t0: float):
        self.live, self.t0 = live, t0
        self.base: tuple[float, int] | None = None
        self.count = 0

    def __call__(self, pts: int | None, tb, fps: float) -> float:
        now = time.monotonic() - self.t0
        if pts is None or tb is None:
            t = now if self.live else self.count / fps
        else:
            if self.base is None:
                self.base = (now if self.live else 0.0, pts)
            t = self.base[0] + float((pts - self.base[1]) * tb)
            if self.live and abs(t - now) > RESYNC_S:
                self.base, t = (now, pts), now
        self.count += 1
        return t


class PacketSource:
    def __init__(
        self,
        target: str,
        ring: RingConfig | None = None,
        *,
        reconnect: int = 5,
        backoff_s: float = 0.5,
        timeout_s: float = STREAM_TIMEOUT_S,
    ):
        import av  # the `media` extra; open_source only comes here when it imports

        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self._av = av
        self.target = target
        self.live = "://" in target
        self.name = display_url(target) if self.live else str(target)
        self.reconnect, self.backoff_s, self.timeout_s = reconnect, backoff_s, timeout_s
        self.packets = PacketRing(ring)
        """The recent packets (empty when the codec is not browser-playable: `why_not` says why)."""
        self.why_not = ""
        self.reconnects = 0
        self.stall_s = 2 * timeout_s + min(backoff_s * 2 ** max(reconnect - 1, 0), MAX_BACKOFF_S)
        self._stop = StopFlag()
        self._error: str | None = None
        self._read = 0
        self._container = None
        self._connected = False
        self._box = NewestFrames()
        self._q: queue.Queue = queue.Queue(AHEAD)
        if not self.live and not Path(target).is_file():  # URLs: `sources.open_source` checked them
            raise VideoError(f"{target}: no such file")
        self._container = self._open()  # a camera that cannot open fails here, before the model loads
        if self._container is None:
            raise SourceError(f"{self.name}: cannot be opened (PyAV cannot open it)")
        self._box.t0 = time.monotonic()
        self._thread: threading.Thread | None = None
        if self.live:
            self._thread = start_owned(self._run, f"capture:{self.name}", self._stop)

    # -- opening and reading (the source's thread) --

    def _open(self):
        av = self._av
        try:
            if self.live:
                c = av.open(self.target, options=rtsp_options(self.timeout_s), timeout=self.timeout_s)
            else:
                with native_path(self.target) as path:
                    c = av.open(path, timeout=self.timeout_s)
        except (av.error.FFmpegError, OSError):
            return None
        if not c.streams.video:
            c.close()
            raise SourceError(f"{self.name}: no video stream")
        s = c.streams.video[0]
        try:
            check_frame_size(self.name, s.codec_context.width or 0, s.codec_context.height or 0)
        except LrcnError as e:
            c.close()
            raise SourceError(str(e)) from None
        s.thread_type = "AUTO"
        return c

    def _read_container(self, c, put) -> None:
        """Demux and decode `c` until it ends or we stop; `put(image, t)` False stops."""
        s = c.streams.video[0]
        params = CodecParams(self._av, s)
        self.why_not = params.why_not
        rate = s.average_rate or s.guessed_rate
        fps = usable_fps(rate) or ASSUMED_FPS
        tb = s.time_base
        start = s.start_time if not self.live else None
        clock, pclock = _Clock(self.live, self._box.t0), _Clock(self.live, self._box.t0)
        if start is not None:
            clock.base = pclock.base = (0.0, start)
        for pkt in c.demux(s):
            if self._stop.is_set():
                return
            if pkt.size and not params.why_not:
                t = pclock(pkt.pts, tb, fps)
                self.packets.append(t, bytes(pkt), pkt.pts, pkt.dts, pkt.is_keyframe, params)
            try:
                decoded = pkt.decode()
            except self._av.error.InvalidDataError:  # one corrupt packet (lost data on UDP): its frames only
                continue
            for frame in decoded:
                image = frame.to_ndarray(format="bgr24")
                check_frame_size(self.name, image.shape[1], image.shape[0])
                if not put(image, clock(frame.pts, tb, fps)):
                    return

    def _run(self) -> None:
        """A camera's thread: read, reopen after a drop (backoff), end with an error line."""
        try:
            while not self._stop.is_set():
                c, self._container = self._container, None
                if c is not None:
                    self._connected = True
                    try:
                        self._read_container(c, self._put_live)
                    except LrcnError as e:
                        self._error = str(e)
                        return
                    except Exception:  # noqa: BLE001 - a drop (EOF, timeout, bad data): reopen below
                        pass
                    finally:
                        self._connected = False
                        c.close()
                if self._stop.is_set() or not self._reopen():
                    return
        finally:
            self._box.end(self._error)

    def _put_live(self, image, t: float) -> bool:
        self._box.put(image, t)
        return not self._stop.is_set()

    def _reopen(self) -> bool:
        for attempt in range(self.reconnect):
            self._box.touch()
            if self._stop.wait(min(self.backoff_s * 2**attempt, MAX_BACKOFF_S)):
                return False
            try:
                self._container = self._open()
            except LrcnError as e:
                self._error = str(e)
                return False
            if self._container is not None:
                self.reconnects += 1
                return True
        self._error = (
            f"{self.name}: the stream dropped and {self.reconnect} reconnect(s) failed"
            if self.reconnect
            else f"{self.name}: the stream dropped (--reconnect 0)"
        )
        return False

    def _run_file(self, c) -> None:
        def put(image, t: float) -> bool:
            while not self._stop.is_set():
                try:
                    self._q.put((image, t), timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        try:
            self._read_container(c, put)
            put(None, 0.0)
        except LrcnError as e:
            put(VideoError(str(e)), 0.0)
        except Exception as e:  # noqa: BLE001 - a decoder failure becomes one line in the consumer
            put(VideoError(f"{self.name}: cannot decode ({type(e).__name__}: {e})".splitlines()[0]), 0.0)
        finally:
            c.close()

    # -- the FrameSource side --

    @property
    def read(self) -> int:
        return self._box.count if self.live else self._read

    @property
    def reconnecting(self) -> bool:
        alive = self._thread is not None and self._thread.is_alive() and not self._stop.is_set()
        return self.live and alive and not self._connected and self._container is None

    def frames(self) -> Iterator[Frame]:
        if self.live:
            return self._box.frames(self.stall_s, self._stalled)
        return self._file_frames()

    def _stalled(self) -> str:
        self._stop.set()
        return f"{self.name}: no frame for {self.stall_s:g} s (the source stalled)"

    def _file_frames(self) -> Iterator[Frame]:
        c, self._container = self._container, None
        if c is None:
            c = self._open()
            if c is None:
                raise VideoError(f"{self.name}: cannot be opened again")
        self._stop.clear()
        self._q = queue.Queue(AHEAD)
        self._read = 0
        self._thread = start_owned(lambda: self._run_file(c), f"decode:{Path(self.name).name}", self._stop)
        try:
            while True:
                try:
                    image, t = self._q.get(timeout=self.timeout_s)
                except queue.Empty:
                    raise VideoError(
                        f"{self.name}: the decoder gave no frame for {self.timeout_s:g} s "
                        f"after frame {self._read}; gave up on the file"
                    ) from None
                if image is None:
                    if self._read == 0:
                        raise VideoError(f"{self.name}: no decodable video frames")
                    return
                if isinstance(image, BaseException):
                    raise image
                self._read += 1
                yield Frame(image, t, self._read - 1)
        finally:
            self._stop.set()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            join_stopped(self._thread, self._stop)
        c, self._container = self._container, None
        if c is not None and (self._thread is None or not self._thread.is_alive()):
            c.close()
