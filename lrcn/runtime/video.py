"""Video decoding and frame sampling. Never trusts the container's frame count.

Frames are resized (`preprocess.resize_rgb`) as they decode, so a long video costs
img_size^2 * 3 bytes a frame; past `max_keep` frames every other kept frame is dropped
(the stride doubles), which keeps memory bounded while sampling stays evenly spread.
OpenCV decodes first; when it opens a file but yields no frame (AV1 here), PyAV is tried.
Decoding runs under a watchdog so a file that hangs the decoder fails in bounded time.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from lrcn.core.errors import VideoError
from lrcn.core.paths import DECODE_TIMEOUT_S
from lrcn.runtime.preprocess import resize_rgb

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".gif")
MAX_KEEP = 2048
MAX_PIXELS = 8192 * 8192


@dataclass
class DecodedVideo:
    """All decoded frames of one file, resized: frames (N, S, S, 3) uint8 RGB.

    frames[i] is video frame i * stride; num_decoded counts every frame that decoded.
    """

    path: str
    frames: np.ndarray
    stride: int
    num_decoded: int
    fps: float | None
    backend: str


@dataclass
class VideoClip:
    """`num` frames sampled evenly over a video: frames (num, S, S, 3) uint8 RGB."""

    frames: np.ndarray
    indices: list[int]
    num_decoded: int
    fps: float | None
    backend: str

    @property
    def sampled_fps(self) -> float | None:
        """Sampled frames per second of video: fps * (num - 1) / (frames spanned)."""
        s, span = len(self.indices), self.indices[-1] - self.indices[0]
        if not self.fps or s < 2 or span <= 0:
            return None
        return self.fps * (s - 1) / span


def sample_indices(n: int, num: int) -> list[int]:
    """`num` indices spread evenly over [0, n-1], first and last included.

    A video shorter than `num` frames is padded by repetition: the indices still spread
    evenly, so each frame repeats about num / n times, in order (the clip is stretched).
    """
    if n <= 0:
        raise ValueError("no frames to sample")
    if num <= 0:
        raise ValueError(f"num must be positive, got {num}")
    if num == 1:
        return [0]
    return [int(round(i * (n - 1) / (num - 1))) for i in range(num)]


def clip_windows(n: int, num: int, clips: int) -> list[list[int]]:
    """`clips` windows of `num` evenly sampled indices, evenly spaced over n frames.

    With clips == 1 this is `sample_indices(n, num)`. Otherwise each window spans n / clips frames.
    """
    if clips <= 1 or n < clips * 2:
        return [sample_indices(n, num)]
    span = n / clips
    out = []
    for c in range(clips):
        start = int(round(c * span))
        end = max(start + 1, int(round((c + 1) * span)))
        out.append([start + i for i in sample_indices(end - start, num)])
    return out


def _fps_ok(fps: float | None) -> float | None:
    return float(fps) if fps and np.isfinite(fps) and 0.5 <= fps <= 1000 else None


class _Keeper:
    """Keeps resized frames with a doubling stride once more than max_keep arrive."""

    def __init__(self, img_size: int, max_keep: int):
        self.img_size, self.max_keep = img_size, max_keep
        self.kept: list[np.ndarray] = []
        self.stride = 1
        self.count = 0

    def add(self, frame: np.ndarray) -> None:
        if frame is None or frame.size == 0:
            return
        if frame.shape[0] * frame.shape[1] > MAX_PIXELS:
            raise VideoError(f"frame of {frame.shape[1]}x{frame.shape[0]} pixels is too large")
        if self.count % self.stride == 0:
            self.kept.append(resize_rgb(frame, self.img_size))
            if len(self.kept) > self.max_keep:
                self.kept = self.kept[::2]
                self.stride *= 2
        self.count += 1


def open_file_capture(path: str) -> cv2.VideoCapture:
    """A capture for a video file, through FFmpeg where this OpenCV build has it.

    With CAP_ANY, a file FFmpeg refuses goes on to OpenCV's own AVI/MJPEG parser, which prints
    its complaints ("Unexpected element ...") straight to stderr: not the one line we promise.
    PyAV still gets its turn for what FFmpeg-in-OpenCV cannot decode.
    """
    if cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG):
        return cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    return cv2.VideoCapture(path)


def _decode_opencv(path: str, keeper: _Keeper, stop: threading.Event) -> float | None:
    cap = open_file_capture(path)
    try:
        if not cap.isOpened():
            return None
        fps = _fps_ok(cap.get(cv2.CAP_PROP_FPS))
        while not stop.is_set():
            ok, frame = cap.read()
            if not ok:
                break
            keeper.add(frame)
        return fps
    finally:
        cap.release()


def _decode_pyav(path: str, keeper: _Keeper, stop: threading.Event) -> float | None:
    try:
        import av  # optional: the fallback for codecs OpenCV's build cannot decode
    except ImportError:
        return None
    try:
        with av.open(path) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            fps = _fps_ok(float(rate)) if rate else None
            for frame in container.decode(stream):
                if stop.is_set():
                    break
                keeper.add(frame.to_ndarray(format="bgr24"))
            return fps
    except VideoError:
        raise
    except Exception:  # noqa: BLE001 - any PyAV failure means "cannot decode"; kept frames still count
        return None


def _decode(path: str, img_size: int, max_keep: int, stop: threading.Event) -> DecodedVideo:
    keeper = _Keeper(img_size, max_keep)
    fps = _decode_opencv(path, keeper, stop)
    backend = "opencv"
    if keeper.count == 0 and not stop.is_set():
        keeper = _Keeper(img_size, max_keep)
        fps = _decode_pyav(path, keeper, stop)
        backend = "pyav"
    if keeper.count == 0:
        raise VideoError(f"{path}: no decodable video frames")
    return DecodedVideo(path, np.stack(keeper.kept), keeper.stride, keeper.count, fps, backend)


def decode_video(
    path: str | os.PathLike, img_size: int, *, timeout_s: float = DECODE_TIMEOUT_S, max_keep: int = MAX_KEEP
) -> DecodedVideo:
    """Decode every frame of `path`, resized to img_size. Raises VideoError naming the file."""
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{p}: no such file")
    if p.is_dir():
        raise VideoError(f"{p}: is a directory, not a video file")
    if p.stat().st_size == 0:
        raise VideoError(f"{p}: empty file")
    result: dict = {}
    stop = threading.Event()

    def work() -> None:
        try:
            result["video"] = _decode(str(p), img_size, max_keep, stop)
        except VideoError as e:
            result["error"] = e
        except Exception as e:  # noqa: BLE001 - decoder bugs become one-line errors
            result["error"] = VideoError(f"{p}: cannot decode ({type(e).__name__}: {e})")

    worker = threading.Thread(target=work, name=f"decode:{p.name}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        stop.set()  # the thread ends at its next frame; we do not wait for a stuck decoder
        raise VideoError(f"{p}: decoding took longer than {timeout_s:g} s")
    if "error" in result:
        err = result["error"]
        msg = str(err)
        raise VideoError(msg if msg.startswith(str(p)) else f"{p}: {msg}")
    return result["video"]


def read_clip(
    path: str | os.PathLike, num: int, img_size: int, *, timeout_s: float = DECODE_TIMEOUT_S
) -> VideoClip:
    """`num` frames spread evenly over the frames of `path` that really decode, resized RGB uint8."""
    video = decode_video(path, img_size, timeout_s=timeout_s)
    return clip_from_video(video, sample_indices(len(video.frames), num))


def clip_from_video(video: DecodedVideo, kept_indices: list[int]) -> VideoClip:
    """A clip from indices into video.frames (the kept, possibly strided frames)."""
    return VideoClip(
        frames=video.frames[kept_indices],
        indices=[i * video.stride for i in kept_indices],
        num_decoded=video.num_decoded,
        fps=video.fps,
        backend=video.backend,
    )
