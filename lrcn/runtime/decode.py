"""One decoder for clip mode and stream mode: a video file's frames, in order, from a thread we own.

`FrameReader` decodes with OpenCV (its FFmpeg backend where the build has it) and, when OpenCV
opens a file but yields no frame (AV1 here), with PyAV. It holds the one fps rule and the one
frame-size limit, checked on the container's dimensions before the first frame decodes.
`DecodeThread` runs a reader a few frames ahead of its consumer, which waits with a timeout: the
one watchdog (clip mode bounds the whole file, stream mode the wait for each frame). Every
decoder, capture and source-closing thread is started by `start_owned`, so `stop_owned` can stop
and join them all with a bound before the process exits (a thread still inside OpenCV at
interpreter exit aborts the process: see `lrcn.runtime.vcrun.entry`). The bound is one per
thread, counted from its first stop request (`StopFlag`): a source's close and the process's exit
share it.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from lrcn.core.errors import LrcnError, VideoError

MAX_FRAME_PIXELS = 8192 * 8192
"""Largest frame accepted (width x height, 67 Mpx, 201 MB decoded as BGR): larger ones are refused
from the container's dimensions, before a frame decodes, in clip and stream mode alike."""
ASSUMED_FPS = 25.0
"""Stream mode times a file's frames at this rate when the container states no usable rate;
clip mode reports such a rate as unknown (None)."""
JOIN_S = 2.0
"""How long, from the first request to stop it, anyone waits for a decoder or capture thread to leave OpenCV."""


def usable_fps(fps) -> float | None:
    """The one fps rule: a finite rate in [0.5, 1000] frames per second, else None (unknown)."""
    try:
        fps = float(fps)
    except (TypeError, ValueError):
        return None
    return fps if np.isfinite(fps) and 0.5 <= fps <= 1000 else None


def check_frame_size(path: str, width: int, height: int) -> None:
    """Raise VideoError naming the file when width x height is over MAX_FRAME_PIXELS."""
    if width * height > MAX_FRAME_PIXELS:
        raise VideoError(f"{path}: frames of {width}x{height} pixels are over the limit of {MAX_FRAME_PIXELS:,} pixels")


def is_native_path(path: str) -> bool:
    """True when `path` is valid UTF-8 text, which is all OpenCV's bindings take (one that is not crashes them)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # a name of undecodable bytes (Latin-1 from an old NAS), held as surrogates
        return False
    return True


@contextlib.contextmanager
def native_path(path: str) -> Iterator[str]:
    """A path to the same file that OpenCV and PyAV can take.

    A name that is not valid UTF-8 reaches Python as surrogate escapes, and OpenCV's bindings
    crash the process on such a string (SIGSEGV, seen with 4.x). That file is opened through a
    symlink with an ASCII name in a private folder made for it (mkdtemp: mode 0700, a fresh name),
    removed when the block ends; other paths are used as they are.
    """
    if is_native_path(path):
        yield path
        return
    folder = tempfile.mkdtemp(prefix="lrcn-name-")
    try:
        suffix = Path(path).suffix
        link = os.path.join(folder, "video" + (suffix if suffix.isascii() and suffix[1:].isalnum() else ""))
        os.symlink(os.fsencode(os.path.abspath(path)), link)
        yield link
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def open_file_capture(path: str) -> cv2.VideoCapture:
    """A capture for a video file, through FFmpeg where this OpenCV build has it.

    With CAP_ANY, a file FFmpeg refuses goes on to OpenCV's own AVI/MJPEG parser, which prints
    its complaints ("Unexpected element ...") straight to stderr: not the one line we promise.
    PyAV still gets its turn for what FFmpeg-in-OpenCV cannot decode.
    """
    if cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG):
        return cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    return cv2.VideoCapture(path)


class FrameReader:
    """Every frame of one file, BGR(A) as decoded; `backend`, `fps` and `decoded` describe the reading."""

    def __init__(self, path: str):
        self.path = path
        self.backend = "opencv"
        self.fps: float | None = None
        self.decoded = 0

    def frames(self, stop: threading.Event) -> Iterator[np.ndarray]:
        """Frames until the file ends or `stop` is set. Raises VideoError naming the file."""
        yield from self._opencv(stop)
        if self.decoded == 0 and not stop.is_set():
            self.backend = "pyav"
            yield from self._pyav(stop)
        if self.decoded == 0 and not stop.is_set():
            raise VideoError(f"{self.path}: no decodable video frames")

    def _frame(self, image: np.ndarray) -> np.ndarray:
        check_frame_size(self.path, image.shape[1], image.shape[0])  # the container may have understated it
        self.decoded += 1
        return image

    def _opencv(self, stop: threading.Event) -> Iterator[np.ndarray]:
        with native_path(self.path) as path:
            cap = open_file_capture(path)
        try:
            if not cap.isOpened():
                return
            check_frame_size(self.path, int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
            self.fps = usable_fps(cap.get(cv2.CAP_PROP_FPS))
            while not stop.is_set():
                ok, image = cap.read()
                if not ok or image is None:
                    return
                if image.size:
                    yield self._frame(image)
        finally:
            cap.release()

    def _pyav(self, stop: threading.Event) -> Iterator[np.ndarray]:
        try:
            import av  # optional: the fallback for codecs OpenCV's build cannot decode
        except ImportError:
            return
        try:
            with native_path(self.path) as path, av.open(path) as container:
                if not container.streams.video:
                    return
                stream = container.streams.video[0]
                check_frame_size(self.path, stream.codec_context.width or 0, stream.codec_context.height or 0)
                rate = stream.average_rate or stream.guessed_rate
                self.fps = usable_fps(rate) if rate else None
                for frame in container.decode(stream):
                    if stop.is_set():
                        return
                    yield self._frame(frame.to_ndarray(format="bgr24"))
        except LrcnError:
            raise
        except Exception:  # noqa: BLE001 - any PyAV failure ends the file; frames read so far count
            return


# ------------------------------------------------------------------ the threads we own


class StopFlag(threading.Event):
    """A thread's stop request that keeps the time it was first made (`at`, monotonic; None while unset).

    Every wait for the thread is bounded from that time (`join_stopped`), so a capture stuck in a
    read costs JOIN_S once: its source's close and the process's exit do not add one each.
    """

    def __init__(self) -> None:
        super().__init__()
        self.at: float | None = None

    def set(self) -> None:
        if self.at is None:
            self.at = time.monotonic()
        super().set()

    def clear(self) -> None:
        self.at = None
        super().clear()


def join_stopped(thread: threading.Thread, stop: StopFlag, timeout_s: float = JOIN_S) -> bool:
    """Ask `thread` to stop and wait for it until `timeout_s` after the first such request; True if it ended."""
    stop.set()
    assert stop.at is not None
    thread.join(max(0.0, stop.at + timeout_s - time.monotonic()))
    return not thread.is_alive()


_owned: dict[threading.Thread, StopFlag] = {}
_owned_lock = threading.Lock()


def start_owned(target: Callable[[], None], name: str, stop: StopFlag) -> threading.Thread:
    """Start a daemon thread that ends soon after `stop` is set; `stop_owned` can find it."""

    def run() -> None:
        try:
            target()
        finally:
            with _owned_lock:
                _owned.pop(threading.current_thread(), None)

    thread = threading.Thread(target=run, name=name, daemon=True)
    with _owned_lock:
        _owned[thread] = stop
    thread.start()
    return thread


def stop_owned(timeout_s: float = JOIN_S) -> list[threading.Thread]:
    """Stop every decoder and capture thread and wait for each up to `timeout_s` from its first stop request
    (one already asked that long ago is not waited for again); returns those still alive (stuck inside a
    native call)."""
    with _owned_lock:
        owned = list(_owned.items())
    for _, stop in owned:
        stop.set()
    for thread, stop in owned:
        join_stopped(thread, stop, timeout_s)
    return [t for t, _ in owned if t.is_alive()]


class DecodeThread:
    """A FrameReader in a thread of its own, up to `ahead` frames ahead of the consumer.

    `next(timeout_s)` is the watchdog: a decoder that gives nothing for that long (a hung
    demuxer) raises TimeoutError in the consumer, which never waits on the decoder unbounded.
    `close()` stops the thread and waits for it up to JOIN_S; one stuck in a native call is left
    behind (it is a daemon, and `stop_owned` reports it).
    """

    def __init__(self, path: str, *, ahead: int = 4):
        self.reader = FrameReader(path)
        self._q: queue.Queue = queue.Queue(maxsize=ahead)
        self._stop = StopFlag()
        self._done = object()
        self._thread = start_owned(self._work, f"decode:{Path(path).name}", self._stop)

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        path = self.reader.path
        try:
            for image in self.reader.frames(self._stop):
                if not self._put(image):
                    return
            self._put(self._done)
        except LrcnError as e:
            msg = str(e)
            self._put(VideoError(msg if msg.startswith(path) else f"{path}: {msg}"))
        except Exception as e:  # noqa: BLE001 - a decoder bug becomes a one-line error in the consumer
            self._put(VideoError(f"{path}: cannot decode ({type(e).__name__}: {e})"))

    def next(self, timeout_s: float) -> np.ndarray | None:
        """The next frame, None at the end of the file. Raises VideoError, or TimeoutError after timeout_s."""
        try:
            item = self._q.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            raise TimeoutError from None
        if item is self._done:
            self._q.put(item)  # a later call sees the end again
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    def close(self, wait_s: float = JOIN_S) -> bool:
        """Stop the decoder; True when its thread has ended within wait_s of the first stop request."""
        return join_stopped(self._thread, self._stop, wait_s)
