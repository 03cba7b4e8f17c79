"""Video decoding and frame sampling. Never trusts the container's frame count.

Frames are resized (`preprocess.resize_rgb`) as they decode, so a long video costs
img_size^2 * 3 bytes a frame; past `max_keep` frames every other kept frame is dropped
(the stride doubles), which keeps memory bounded while sampling stays evenly spread.
Decoding is `lrcn.runtime.decode`'s, shared with stream mode (OpenCV, then PyAV; the frame-size
limit); its watchdog bounds the whole file here, so a file that hangs the decoder fails in bounded time.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lrcn.core.errors import VideoError
from lrcn.core.paths import DECODE_TIMEOUT_S
from lrcn.runtime.decode import DecodeThread
from lrcn.runtime.preprocess import resize_rgb
from lrcn.runtime.rect import WHOLE, Rect
from lrcn.runtime.roi import ZoomGeometry, cut, motion_box, work_size

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".gif")
MAX_KEEP = 2048
KEEP_PIXELS = MAX_KEEP * 128 * 128
"""The motion zoom keeps its larger frames up to the memory of MAX_KEEP frames at 128 px (96 MiB),
but never fewer than 128 frames, and the floor wins at 8x decoding (today's geometry) from 64 px
up: a zoomed video then holds 96 MiB of frames at 64 px, 294 MiB at 112 px, 384 MiB at 128 px
(4x decoding, the first geometry: 512 frames at 64 px, 167 at 112 px, within the 96 MiB)."""


def zoom_keep(img_size: int, geometry: ZoomGeometry) -> int:
    """Frames kept for the motion zoom (they decode at roi.work_size)."""
    return max(128, KEEP_PIXELS // work_size(img_size, geometry) ** 2)


@dataclass
class DecodedVideo:
    """All decoded frames of one file, resized: frames (N, S, S, 3) uint8 RGB.

    frames[i] is video frame i * stride; num_decoded counts every frame that decoded. S is
    img_size, or `roi.work_size` when `zoom` is a geometry (clips are cut and resized by
    `clip_from_video`).
    """

    path: str
    frames: np.ndarray
    stride: int
    num_decoded: int
    fps: float | None
    backend: str
    img_size: int = 0
    """The model's side (0: the frames' own)."""
    zoom: ZoomGeometry | None = None
    """The motion zoom's geometry (None: whole frames)."""


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


class _Keeper:
    """Keeps resized frames with a doubling stride once more than max_keep arrive."""

    def __init__(self, img_size: int, max_keep: int, region: Rect = WHOLE):
        self.img_size, self.max_keep, self.region = img_size, max_keep, region
        self.kept: list[np.ndarray] = []
        self.stride = 1
        self.count = 0

    def add(self, frame: np.ndarray) -> None:
        if self.count % self.stride == 0:
            self.kept.append(resize_rgb(frame, self.img_size, self.region))
            if len(self.kept) > self.max_keep:
                self.kept = self.kept[::2]
                self.stride *= 2
        self.count += 1


def decode_video(
    path: str | os.PathLike,
    img_size: int,
    *,
    timeout_s: float = DECODE_TIMEOUT_S,
    max_keep: int = MAX_KEEP,
    zoom: ZoomGeometry | None = None,
    region: Rect = WHOLE,
) -> DecodedVideo:
    """Decode every frame of `path`, cut to `region` (the model's `PreprocessSpec.region`) and resized
    to img_size (`roi.work_size` with a zoom: the model's `PreprocessSpec.zoomed`), within timeout_s
    in all. Raises VideoError naming the file."""
    p = Path(path)
    if not p.exists():
        raise VideoError(f"{p}: no such file")
    if p.is_dir():
        raise VideoError(f"{p}: is a directory, not a video file")
    if p.stat().st_size == 0:
        raise VideoError(f"{p}: empty file")
    deadline = time.monotonic() + timeout_s
    keep = min(max_keep, zoom_keep(img_size, zoom)) if zoom else max_keep
    keeper = _Keeper(work_size(img_size, zoom), keep, region)
    decoder = DecodeThread(str(p))
    try:
        while (frame := decoder.next(deadline - time.monotonic())) is not None:
            keeper.add(frame)
    except TimeoutError:
        raise VideoError(f"{p}: decoding took longer than {timeout_s:g} s") from None
    finally:
        decoder.close()
    reader = decoder.reader
    frames = np.stack(keeper.kept)
    return DecodedVideo(str(p), frames, keeper.stride, keeper.count, reader.fps, reader.backend, img_size, zoom)


def read_clip(
    path: str | os.PathLike,
    num: int,
    img_size: int,
    *,
    timeout_s: float = DECODE_TIMEOUT_S,
    zoom: ZoomGeometry | None = None,
    box_num: int | None = None,
    region: Rect = WHOLE,
) -> VideoClip:
    """`num` frames spread evenly over the frames of `path` that really decode, resized RGB uint8.

    `box_num`: with the zoom, the motion box is that of `box_num` evenly spread frames (default
    `num`). Training's dense cache for temporal jitter (2S - 1 frames) gives S: its box is then the
    one clip mode finds on the S frames it samples."""
    video = decode_video(path, img_size, timeout_s=timeout_s, zoom=zoom, region=region)
    n = len(video.frames)
    return clip_from_video(video, sample_indices(n, num), sample_indices(n, box_num) if box_num else None)


def clip_from_video(video: DecodedVideo, kept_indices: list[int], box_indices: list[int] | None = None) -> VideoClip:
    """A clip from indices into video.frames (the kept, possibly strided frames), at the model's
    size: with the motion zoom, cut to the motion box of the frames at `box_indices` (default
    the clip's own) first (`roi.zoom_clip`)."""
    frames = video.frames[kept_indices]
    if video.zoom is not None:
        box = motion_box(video.frames[box_indices if box_indices is not None else kept_indices], video.zoom)
        frames = cut(frames, box, video.img_size)
    return VideoClip(
        frames=frames,
        indices=[i * video.stride for i in kept_indices],
        num_decoded=video.num_decoded,
        fps=video.fps,
        backend=video.backend,
    )
