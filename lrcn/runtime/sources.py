"""Where frames come from: video files, folders and globs, camera indices and stream URLs.

A FrameSource yields `Frame`s (BGR image, time in seconds, index in the source) and counts
the frames it read. Files are read in order, every frame, at decoding speed. Live sources
(cameras, URLs) read in their own thread and keep only the newest frame: a consumer slower
than the camera skips frames instead of falling behind, so latency never grows.
"""

from __future__ import annotations

import glob
import queue
import threading
import time
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from lrcn.core.errors import SourceError, VideoError
from lrcn.core.paths import STREAM_TIMEOUT_S
from lrcn.runtime.newest import Frame, NewestFrames
from lrcn.runtime.quiet import captured_output
from lrcn.runtime.video import VIDEO_EXTENSIONS, open_file_capture

"""A URL that takes longer to open, or a live source that sends no frame for longer, has dropped."""
MAX_BACKOFF_S = 8.0
FALLBACK_FPS = 25.0


def is_url(target: str) -> bool:
    return "://" in target


def is_live(target: str) -> bool:
    """A camera index ("0") or a URL; an existing file named "0" stays a file."""
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
    """Every frame of a video file, in order; PyAV takes over when OpenCV reads nothing (AV1).

    Decoding runs in a thread a few frames ahead of the consumer; a decoder that gives no frame
    for `timeout_s` (a hung demuxer on a broken file) ends the file with a VideoError instead
    of hanging the stream. The stuck thread is a daemon and is left behind.
    """

    live = False
    AHEAD = 4

    def __init__(self, path: str | Path, timeout_s: float = STREAM_TIMEOUT_S):
        self.path = Path(path)
        self.name = str(self.path)
        self.read = 0
        """Frames handed to the consumer (the decoder may be up to AHEAD + 1 frames further)."""
        self._decoded = 0
        self._stop = threading.Event()
        self.timeout_s = timeout_s
        if timeout_s <= 0:
            raise ValueError(f"--stream-timeout must be > 0, got {timeout_s}")
        if not self.path.is_file():
            raise VideoError(f"{self.path}: no such file")

    def frames(self) -> Iterator[Frame]:
        done, stop = object(), self._stop
        q: queue.Queue = queue.Queue(maxsize=self.AHEAD)

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    q.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def work() -> None:
            try:
                for frame in self._decode():
                    if not put(frame):
                        return
                put(done)
            except BaseException as e:  # noqa: BLE001 - handed to the consumer, raised there
                put(e)

        threading.Thread(target=work, name=f"read:{self.path.name}", daemon=True).start()
        try:
            while True:
                try:
                    item = q.get(timeout=self.timeout_s)
                except queue.Empty:
                    raise VideoError(f"{self.path}: the decoder gave no frame for {self.timeout_s:g} s "
                                     f"after frame {self.read}; gave up on the file") from None
                if item is done:
                    return
                if isinstance(item, BaseException):
                    raise item
                self.read += 1
                yield item
        finally:
            stop.set()

    def _decode(self) -> Iterator[Frame]:
        yield from self._opencv()
        if self._decoded == 0:
            yield from self._pyav()
        if self._decoded == 0:
            raise VideoError(f"{self.path}: no decodable video frames")

    def _opencv(self) -> Iterator[Frame]:
        cap = open_file_capture(str(self.path))
        try:
            if not cap.isOpened():
                return
            fps = cap.get(cv2.CAP_PROP_FPS)
            fps = fps if np.isfinite(fps) and 0.5 <= fps <= 1000 else FALLBACK_FPS
            while True:
                ok, img = cap.read()
                if not ok or img is None:
                    return
                self._decoded += 1
                yield Frame(img, (self._decoded - 1) / fps, self._decoded - 1)
        finally:
            cap.release()

    def _pyav(self) -> Iterator[Frame]:
        try:
            import av  # optional, as in video.py
        except ImportError:
            return
        try:
            with av.open(str(self.path)) as container:
                if not container.streams.video:
                    return
                stream = container.streams.video[0]
                rate = stream.average_rate or stream.guessed_rate
                fps = float(rate) if rate else FALLBACK_FPS
                for f in container.decode(stream):
                    self._decoded += 1
                    yield Frame(f.to_ndarray(format="bgr24"), (self._decoded - 1) / fps, self._decoded - 1)
        except Exception:  # noqa: BLE001 - a PyAV failure ends the file; frames read so far count
            return

    def close(self) -> None:
        self._stop.set()  # a decoder thread still running ends at its next frame and releases the file


def _open_capture(target: int | str, timeout_s: float = STREAM_TIMEOUT_S):
    """cv2.VideoCapture with bounded open/read times (URLs), or None when it does not open."""
    if isinstance(target, int):
        with captured_output():  # OpenCV prints its camera-probe errors; ours is one line
            cap = cv2.VideoCapture(target)
    else:  # URLs are quiet (FFmpeg's log level is set in lrcn.runtime) and reopen from the capture
        # thread, where redirecting the process's output would swallow the main thread's lines.
        # FFmpeg's interrupt callback honours both limits (an open or a read past them fails).
        ms = max(1, int(timeout_s * 1000))
        cap = cv2.VideoCapture(target, cv2.CAP_ANY, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms,
                                                     cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
    if cap.isOpened():
        return cap
    cap.release()
    return None


class LiveSource:
    """A camera or URL read by a capture thread that keeps only the newest frame.

    A URL that drops is reopened up to `reconnect` times per drop, waiting 0.5, 1, 2, ... s
    (at most MAX_BACKOFF_S) between tries; a camera that stops ends the source with an error.
    `timeout_s` bounds a URL's open and each read. `frames()` also gives up on its own when the
    capture thread shows no sign of life (a frame, a reopen attempt) for longer than any of
    those waits can take, so a driver that ignores its timeout cannot hang the consumer.
    """

    live = True

    def __init__(self, target: int | str, *, reconnect: int = 5, backoff_s: float = 0.5,
                 timeout_s: float = STREAM_TIMEOUT_S):
        if timeout_s <= 0:
            raise ValueError(f"--stream-timeout must be > 0, got {timeout_s}")
        self.target, self.reconnect, self.backoff_s, self.timeout_s = target, reconnect, backoff_s, timeout_s
        self.name = f"camera {target}" if isinstance(target, int) else str(target)
        self.reconnects = 0
        self.stall_s = 2 * timeout_s + min(backoff_s * 2 ** max(reconnect - 1, 0), MAX_BACKOFF_S)
        """No frame and no reopen attempt for this long: frames() ends the source with an error."""
        self._box = NewestFrames()
        self._cap = _open_capture(target, timeout_s)
        if self._cap is None:
            what = "no camera with this index, or it is in use" if isinstance(target, int) else "OpenCV cannot open it"
            raise SourceError(f"{self.name}: cannot be opened ({what})")
        self._error: str | None = None
        self._stop = threading.Event()
        self._box.t0 = time.monotonic()
        self._thread = threading.Thread(target=self._capture, name=f"capture:{self.name}", daemon=True)
        self._thread.start()

    def _capture(self) -> None:
        try:
            while not self._stop.is_set():
                ok, img = self._cap.read()
                if ok and img is not None:
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
            self._cap = _open_capture(self.target, self.timeout_s)
            if self._cap is not None:
                self.reconnects += 1
                return True
        self._error = (f"{self.name}: the stream dropped and {self.reconnect} reconnect(s) failed"
                       if self.reconnect else f"{self.name}: the stream dropped (--reconnect 0)")
        return False

    @property
    def read(self) -> int:
        return self._box.count

    def frames(self) -> Iterator[Frame]:
        """The newest frame each time one newer than the last arrives; frames in between are dropped."""

        def stalled() -> str:
            self._stop.set()  # the capture thread is stuck in a read; it is a daemon, we go on without it
            return f"{self.name}: no frame for {self.stall_s:g} s (the source stalled)"

        return self._box.frames(self.stall_s, stalled)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)  # a read blocked on a dead socket ends at timeout_s


def open_source(target, *, reconnect: int = 5, timeout_s: float = STREAM_TIMEOUT_S):
    """A FrameSource for a camera index (int or digits), a URL, or a video file path."""
    if isinstance(target, int):
        return LiveSource(target, reconnect=reconnect, timeout_s=timeout_s)
    target = str(target)
    if is_live(target):
        return LiveSource(int(target) if target.isdigit() else target, reconnect=reconnect, timeout_s=timeout_s)
    return FileSource(target, timeout_s=timeout_s)
