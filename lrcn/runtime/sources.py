"""Where frames come from: video files, folders and globs, camera indices and stream URLs.

A FrameSource yields `Frame`s (BGR image, time in seconds, index in the source) and counts
the frames it read. Files are read in order, every frame, at decoding speed. Live sources
(cameras, URLs) read in their own thread and keep only the newest frame: a consumer slower
than the camera skips frames instead of falling behind, so latency never grows.
"""

from __future__ import annotations

import glob
import re
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import cv2

from lrcn.core.errors import LrcnError, SourceError, VideoError
from lrcn.core.paths import STREAM_TIMEOUT_S
from lrcn.core.text import printable
from lrcn.runtime.decode import (
    ASSUMED_FPS,
    DecodeThread,
    StopFlag,
    check_frame_size,
    join_stopped,
    start_owned,
)
from lrcn.runtime.newest import Frame, NewestFrames
from lrcn.runtime.packets import RingConfig
from lrcn.runtime.quiet import captured_output
from lrcn.runtime.sinks import display_url
from lrcn.runtime.video import VIDEO_EXTENSIONS

MAX_BACKOFF_S = 8.0


MAX_CAMERA_INDEX = 1023
"""Camera indices are ASCII digits up to this (OpenCV's camera backends count from 0; /dev/video* stays far below)."""


def is_url(target: str) -> bool:
    return "://" in target


def is_camera_index(target: str) -> bool:
    """ASCII digits only: str.isdigit() also takes "²" and other scripts' digits, which int() may refuse."""
    return target.isascii() and target.isdigit()


def is_live(target: str) -> bool:
    """A camera index ("0") or a URL; an existing file named "0" stays a file. Digits of any script count
    here, so that `check_source` refuses "²" as a camera index instead of it being looked up as a file."""
    return is_url(target) or (target.isdigit() and not Path(target).exists())


def expand_inputs(target: str) -> list[Path]:
    """A file, a folder (videos in it, recursively) or a glob -> video files, sorted.

    Raises VideoError when nothing matches, so the caller can name the input that failed.
    """
    p = Path(target)
    if p.is_file():
        return [p]
    if p.is_dir():
        found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS)
        if not found:
            raise VideoError(f"{p}: no video files ({' '.join(VIDEO_EXTENSIONS)}) in this folder")
        return found
    if glob.has_magic(target):
        found = sorted(Path(f) for f in glob.glob(target, recursive=True) if Path(f).is_file())
        if not found:
            raise VideoError(f"{target}: no file matches")
        return found
    raise VideoError(f"{p}: no such file")


class FileSource:
    """Every frame of a video file, in order, from `lrcn.runtime.decode` (as clip mode decodes it).

    The decoder runs a few frames ahead of the consumer; one that gives no frame for `timeout_s`
    (a hung demuxer on a broken file) ends the file with a VideoError instead of hanging the stream.
    Frame times come from the container's rate, or decode.ASSUMED_FPS where it states none.
    """

    live = False

    def __init__(self, path: str | Path, timeout_s: float = STREAM_TIMEOUT_S):
        self.path = Path(path)
        self.name = str(self.path)
        self.read = 0
        """Frames handed to the consumer (the decoder may be a few frames further)."""
        self.timeout_s = timeout_s
        self._decoder: DecodeThread | None = None
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if not self.path.is_file():
            raise VideoError(f"{self.path}: no such file")

    def frames(self) -> Iterator[Frame]:
        self.close()
        decoder = self._decoder = DecodeThread(str(self.path))
        try:
            while True:
                try:
                    image = decoder.next(self.timeout_s)
                except TimeoutError:
                    raise VideoError(
                        f"{self.path}: the decoder gave no frame for {self.timeout_s:g} s "
                        f"after frame {self.read}; gave up on the file"
                    ) from None
                if image is None:
                    return
                fps = decoder.reader.fps or ASSUMED_FPS
                self.read += 1
                yield Frame(image, (self.read - 1) / fps, self.read - 1)
        finally:
            decoder.close()

    def close(self) -> None:
        if self._decoder is not None:
            self._decoder.close()  # the decoder thread ends at its next frame and releases the file


URL_SCHEMES = ("rtsp", "rtsps", "http", "https", "rtmp")
"""Stream URLs we open, and only through OpenCV's FFmpeg backend: with CAP_ANY, a GStreamer build
can read the string as a pipeline description, and other FFmpeg protocols (file:, concat:, ...)
reach local files."""


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def check_url(url: str) -> None:
    """Raise SourceError naming the URL unless it is one we open: scheme in URL_SCHEMES, a host, a valid port,
    no control character, whitespace or other unprintable character anywhere, and FFmpeg present.

    FFmpeg writes the URL into its protocol's request line (RTSP, HTTP), so a CR LF in it would send
    lines of the sender's choosing to whatever listens at the host.
    """
    if _CONTROL.search(url):
        raise SourceError(f"{printable(url)}: control characters are not allowed in a source")
    scheme = url.split("://", 1)[0].lower()
    if scheme not in URL_SCHEMES:
        raise SourceError(
            f"{printable(url)}: {scheme!r} URLs are not opened; stream URLs are "
            f"{', '.join(s + '://' for s in URL_SCHEMES)}"
        )
    if printable(url) != url or any(c.isspace() for c in url):
        raise SourceError(f"{printable(url)}: whitespace and unprintable characters are not allowed in a URL")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number in 0..65535
    except ValueError as e:
        raise SourceError(f"{printable(url)}: not a valid URL ({e})") from None
    if not parts.hostname:
        raise SourceError(f"{printable(url)}: names no host")
    if not cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG):
        raise SourceError(f"{printable(url)}: this OpenCV build has no FFmpeg backend, which stream URLs need")


def check_source(source: object, *, from_api: bool = False) -> int | str:
    """The one check of a source before anything opens it: a camera index (returned as an int), a stream
    URL (`check_url`) or, unless `from_api`, a local file path (returned as given). Raises SourceError
    in one printable line.

    Every entry point calls it: vc-run's arguments, each line of a `.streams` list, `open_source`, and
    a service's API (`from_api=True`: digits are always a camera index, never a file of that name in
    the working directory, and local paths are refused).
    """
    if isinstance(source, bool) or not isinstance(source, (int, str)):
        raise SourceError(f"{printable(source)}: a source is a camera index, a stream URL or a file path")
    if isinstance(source, int):
        if not 0 <= source <= MAX_CAMERA_INDEX:
            raise SourceError(f"camera {source}: camera indices are 0 to {MAX_CAMERA_INDEX}")
        return source
    if not source:
        raise SourceError("an empty source: give a camera index, a stream URL or a file path")
    if is_url(source):
        check_url(source)
        return source
    if _CONTROL.search(source):
        raise SourceError(f"{printable(source)}: control characters are not allowed in a source")
    digits = source.isdigit()  # any script's digits: "²" is refused as a camera, not opened as a file
    if digits and (from_api or not Path(source).exists()):
        if not is_camera_index(source) or len(source) > len(str(MAX_CAMERA_INDEX)) or int(source) > MAX_CAMERA_INDEX:
            raise SourceError(f"{printable(source)}: camera indices are ASCII digits, 0 to {MAX_CAMERA_INDEX}")
        return int(source)
    if from_api:
        raise SourceError(f"{printable(source)}: a source here is a camera index or a stream URL, not a file path")
    return source


def _open_capture(target: int | str, timeout_s: float = STREAM_TIMEOUT_S):
    """cv2.VideoCapture with bounded open/read times (URLs), or None when it does not open.

    Raises SourceError when the source announces frames over decode.MAX_FRAME_PIXELS."""
    if isinstance(target, int):
        with captured_output():  # OpenCV prints its camera-probe errors; ours is one line
            cap = cv2.VideoCapture(target)
    else:  # URLs are quiet (FFmpeg's log level is set in lrcn.runtime) and reopen from the capture
        # thread, where redirecting the process's output would swallow the main thread's lines.
        # FFmpeg's interrupt callback honours both limits (an open or a read past them fails).
        check_url(target)
        ms = max(1, int(timeout_s * 1000))
        cap = cv2.VideoCapture(
            target, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        )
    if not cap.isOpened():
        cap.release()
        return None
    name = f"camera {target}" if isinstance(target, int) else target
    try:
        check_frame_size(name, int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    except LrcnError as e:
        cap.release()
        raise SourceError(str(e)) from None
    return cap


class LiveSource:
    """A camera or URL read by a capture thread that keeps only the newest frame.

    A URL that drops is reopened up to `reconnect` times per drop, waiting 0.5, 1, 2, ... s
    (at most MAX_BACKOFF_S) between tries; a camera that stops ends the source with an error.
    `timeout_s` bounds a URL's open and each read. `frames()` also gives up on its own when the
    capture thread shows no sign of life (a frame, a reopen attempt) for longer than any of
    those waits can take, so a driver that ignores its timeout cannot hang the consumer.
    """

    live = True

    def __init__(
        self, target: int | str, *, reconnect: int = 5, backoff_s: float = 0.5, timeout_s: float = STREAM_TIMEOUT_S
    ):
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        self.target, self.reconnect, self.backoff_s, self.timeout_s = target, reconnect, backoff_s, timeout_s
        self.name = f"camera {target}" if isinstance(target, int) else display_url(target)
        """What lines and summaries show: a URL without its user info, query and fragment (where secrets go)."""
        self.reconnects = 0
        self.stall_s = 2 * timeout_s + min(backoff_s * 2 ** max(reconnect - 1, 0), MAX_BACKOFF_S)
        """No frame and no reopen attempt for this long: frames() ends the source with an error."""
        self._box = NewestFrames()
        check_source(target)
        self._cap = _open_capture(target, timeout_s)
        if self._cap is None:
            what = "no camera with this index, or it is in use" if isinstance(target, int) else "OpenCV cannot open it"
            raise SourceError(f"{self.name}: cannot be opened ({what})")
        self._error: str | None = None
        self._stop = StopFlag()
        self._box.t0 = time.monotonic()  # frame times count from the open, which may take seconds
        self._thread = start_owned(self._capture, f"capture:{self.name}", self._stop)

    def _capture(self) -> None:
        try:
            while not self._stop.is_set():
                ok, img = self._cap.read()
                if ok and img is not None:
                    try:  # larger than announced at open: this one is decoded already, no more are read
                        check_frame_size(self.name, img.shape[1], img.shape[0])
                    except LrcnError as e:
                        self._error = str(e)
                        return
                    self._box.put(img)
                elif not self._reopen():
                    return
        finally:
            if self._cap is not None:
                self._cap.release()
            self._box.end(self._error)

    def _reopen(self) -> bool:
        """After a failed read: reopen a URL with backoff. False ends the source."""
        self._cap.release()
        self._cap = None
        if isinstance(self.target, int):
            self._error = f"{self.name}: stopped delivering frames"
            return False
        for attempt in range(self.reconnect):
            self._box.touch()
            if self._stop.wait(min(self.backoff_s * 2**attempt, MAX_BACKOFF_S)):
                return False
            try:
                self._cap = _open_capture(self.target, self.timeout_s)
            except LrcnError as e:  # the source came back with frames over the limit
                self._error = str(e)
                return False
            if self._cap is not None:
                self.reconnects += 1
                return True
        self._error = (
            f"{self.name}: the stream dropped and {self.reconnect} reconnect(s) failed"
            if self.reconnect
            else f"{self.name}: the stream dropped (--reconnect 0)"
        )
        return False

    @property
    def read(self) -> int:
        return self._box.count

    @property
    def reconnecting(self) -> bool:
        """The stream dropped and is being reopened (no capture open, the capture thread still trying)."""
        return self._cap is None and self._thread.is_alive() and not self._stop.is_set()

    def frames(self) -> Iterator[Frame]:
        """The newest frame each time one newer than the last arrives; frames in between are dropped."""

        def stalled() -> str:
            self._stop.set()  # the capture thread is stuck in a read; it is a daemon, we go on without it
            return f"{self.name}: no frame for {self.stall_s:g} s (the source stalled)"

        return self._box.frames(self.stall_s, stalled)

    def close(self) -> None:
        join_stopped(self._thread, self._stop)  # a read blocked on a dead socket ends at timeout_s


def open_source(
    target,
    *,
    reconnect: int = 5,
    timeout_s: float = STREAM_TIMEOUT_S,
    from_api: bool = False,
    packets: RingConfig | None = None,
):
    """A FrameSource for a camera index (int or digits), a URL, or a video file path (`check_source` first).

    With `packets` (event media copies clips), rtsp:// URLs and .mp4/.mkv/.mov files are read by PyAV and
    keep their compressed packets (`packet_source.PacketSource`); everything else, and everything without
    PyAV, is read by OpenCV."""
    checked = check_source(target if isinstance(target, int) else str(target), from_api=from_api)
    if isinstance(checked, int):
        return LiveSource(checked, reconnect=reconnect, timeout_s=timeout_s)
    if is_url(checked):
        if packets is not None and _copies(checked):
            from lrcn.runtime.packet_source import PacketSource

            return PacketSource(checked, packets, reconnect=reconnect, timeout_s=timeout_s)
        return LiveSource(checked, reconnect=reconnect, timeout_s=timeout_s)
    return open_file(checked, timeout_s=timeout_s, packets=packets)


def open_file(path: str | Path, *, timeout_s: float = STREAM_TIMEOUT_S, packets: RingConfig | None = None):
    """A video file's FrameSource: `FileSource`, or with `packets` a PacketSource for .mp4/.mkv/.mov files."""
    if packets is not None and _copies(str(path)):
        from lrcn.runtime.packet_source import PacketSource

        return PacketSource(str(path), packets, timeout_s=timeout_s)
    return FileSource(path, timeout_s=timeout_s)


def _copies(target: str) -> bool:
    """A source PacketSource reads, and PyAV (the `media` extra) is installed."""
    from lrcn.runtime.packet_source import copies

    if not copies(target):
        return False
    try:
        import av  # noqa: F401 - optional: the `media` extra
    except ImportError:
        return False
    return True
