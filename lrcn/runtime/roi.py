"""The motion zoom: cut a clip to where it moves, before resizing (`--zoom motion`).

A fixed wide camera shows people a few pixels tall once a frame is resized to 64 px; the
action is in a small part of the frame. `motion_box` finds that part from the clip's own frame
differences and `cut` cuts every frame of the clip to it, so the model sees the people
at a size it can learn from. One box per clip (a box per frame would make the crop move with
the noise): the box is a zoom of the frame (its aspect ratio, at most `ZoomGeometry.max_zoom` times), so a
still clip, or one moving everywhere, keeps the whole frame.

Contract: frames (N, H, W, 3) uint8 -> box (x0, y0, x1, y1) in pixels, x1 - x0 = W / zoom,
y1 - y0 = H / zoom, inside the frame. Decoding keeps frames at `work_size` (`ZoomGeometry.decode`
times the model's side, at least its max_zoom) so that the most zoomed box still holds img_size
pixels; `zoom_clip` then gives the model's (S, img_size, img_size, 3). Training, clip mode and the
export gate all go through `video.clip_from_video`, which calls it: one path.

How the box is drawn and how large frames decode (`ZoomGeometry`) is part of what a model was
trained on, so a model records it (`PreprocessSpec.zoom_geometry`, in its ONNX metadata) and is
run with its own; `FIRST_GEOMETRY` is what models cut with before it was recorded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

ZOOMS = ("none", "motion")
"""Values of PreprocessSpec.zoom."""
ANALYSIS_WIDTH = 96
"""Frames are compared at this width (grey, blurred): cheap, and pixel noise averages out."""
QUANTILE = 0.05
"""The moving region spans the 5th to 95th percentile of motion along each axis."""
MAX_DECODE = 16
"""Bound on `ZoomGeometry.decode` (a window of frames at 16 times the model's side is already large)."""


@dataclass(frozen=True)
class ZoomGeometry:
    """How a zoomed model finds its box and how large its frames decode (fractions of the frame's side)."""

    margin: float = 0.15
    """The box grows by this share of the moving region's size on every side."""
    grid: int = 32
    """The box's side is a multiple of 1/grid of the frame's, its corner of 1/(2 grid): a stream's box
    then stays put while its people move a little, and its window's features are kept (FrameInput)."""
    max_zoom: float = 4.0
    """The box is never smaller than 1/max_zoom of the frame's side."""
    decode: int = 8
    """Frames decode at decode times the model's side before the cut (at least max_zoom, so the
    smallest box still holds the model's side; more resamples the cut from sharper frames)."""

    def __post_init__(self) -> None:
        problems = problems_of(self.margin, self.grid, self.max_zoom, self.decode)
        if problems:
            raise ValueError("zoom geometry: " + "; ".join(problems))

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in FIELDS}

    @classmethod
    def from_dict(cls, d) -> ZoomGeometry:
        """A saved geometry: all four fields (keys this version does not know are ignored); ValueError else."""
        if isinstance(d, ZoomGeometry):
            return d
        if not isinstance(d, dict) or any(k not in d for k in FIELDS):
            raise ValueError(f"zoom geometry must be an object with {', '.join(FIELDS)}, got {d!r}"[:200])
        return cls(**{k: d[k] for k in FIELDS})


FIELDS = ("margin", "grid", "max_zoom", "decode")
"""ZoomGeometry's fields, as saved."""


def finite_number(v) -> bool:
    """A finite int or float; False for an int too large for a float (JSON may carry 10**400)."""
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def problems_of(margin, grid, max_zoom, decode) -> list[str]:
    """What is wrong with a geometry's values (shared with the metadata rules, which read JSON)."""

    def num(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and finite_number(v)

    def integer(v) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    problems = []
    if not (num(margin) and 0 <= margin <= 2):
        problems.append(f"margin must be a number in [0, 2], got {margin!r}"[:120])
    if not (integer(grid) and 1 <= grid <= 256):
        problems.append(f"grid must be an integer in 1-256, got {grid!r}"[:120])
    if not (num(max_zoom) and 1 <= max_zoom <= MAX_DECODE):
        problems.append(f"max_zoom must be a number in [1, {MAX_DECODE}], got {max_zoom!r}"[:120])
    elif not (integer(decode) and max_zoom <= decode <= MAX_DECODE):
        problems.append(f"decode must be an integer from max_zoom ({max_zoom:g}) to {MAX_DECODE}, got {decode!r}"[:120])
    return problems


FIRST_GEOMETRY = ZoomGeometry(margin=0.25, grid=16, max_zoom=4.0, decode=4)
"""Models exported before the geometry was recorded were cut with this one (their metadata has no
zoom_geometry; `PreprocessSpec.from_dict` gives them this)."""


def analysis_grey(frame: np.ndarray) -> np.ndarray:
    """One frame (H, W[, 3]) uint8 -> its grey, blurred, ANALYSIS_WIDTH wide (float32): what boxes compare.
    Per frame, so a stream computes it once per frame and keeps it with the frame."""
    h, w = frame.shape[:2]
    aw = min(ANALYSIS_WIDTH, w)
    ah = max(2, round(h * aw / w))
    g = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) if frame.ndim == 3 else frame
    g = cv2.resize(g, (aw, ah), interpolation=cv2.INTER_AREA)
    return cv2.GaussianBlur(g.astype(np.float32), (3, 3), 0)


def _span(energy: np.ndarray) -> tuple[float, float]:
    """Quantile span of a 1-D energy profile, as fractions of its length."""
    c = np.cumsum(energy)
    c /= c[-1]
    lo = float(np.searchsorted(c, QUANTILE))
    hi = float(np.searchsorted(c, 1 - QUANTILE)) + 1
    n = len(energy)
    return lo / n, hi / n


def motion_box(frames: np.ndarray, geometry: ZoomGeometry) -> tuple[int, int, int, int]:
    """(N, H, W[, 3]) uint8 frames -> the crop box (x0, y0, x1, y1) in pixels (the whole frame when still)."""
    h, w = frames.shape[1:3]
    greys = np.stack([analysis_grey(f) for f in frames])
    return box_from_diffs(np.abs(np.diff(greys, axis=0)), h, w, geometry)


def pair_diff(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """|after - before| of two `analysis_grey`s: what `box_from_diffs` reads for one pair of frames."""
    return np.abs(after - before)


def box_from_diffs(d: np.ndarray, h: int, w: int, geometry: ZoomGeometry) -> tuple[int, int, int, int]:
    """The (N - 1, ah, aw) `pair_diff`s of N consecutive frames of size (h, w) -> the box of
    `motion_box`. A stream keeps its window's differences and adds one a frame."""
    whole = (0, 0, w, h)
    if len(d) < 1:
        return whole
    # sensor noise and compression flicker everywhere, motion somewhere: keep what stands out
    # (the noise level from every other pixel of every other row: about the same median for a quarter
    # of the work; clip mode and streams both compute it this way)
    threshold = max(4.0, 3.0 * float(np.median(d[:, ::2, ::2])))
    excess = d - np.float32(threshold)
    np.maximum(excess, 0, out=excess)
    energy = excess.sum(axis=0)
    if float(energy.sum()) <= 0:
        return whole
    x_lo, x_hi = _span(energy.sum(axis=0))
    y_lo, y_hi = _span(energy.sum(axis=1))
    bw, bh = x_hi - x_lo, y_hi - y_lo
    # the box: the region plus margins, widened to the frame's aspect (fractions of the frame)
    grid, grow = geometry.grid, 1 + 2 * geometry.margin
    side = max(bw * grow, bh * grow, 1 / geometry.max_zoom)
    side = math.ceil(side * grid - 1e-9) / grid
    if side >= 1:
        return whole
    cx, cy = (x_lo + x_hi) / 2, (y_lo + y_hi) / 2
    fx0 = min(max(round((cx - side / 2) * 2 * grid) / (2 * grid), 0.0), 1 - side)
    fy0 = min(max(round((cy - side / 2) * 2 * grid) / (2 * grid), 0.0), 1 - side)
    x0, y0 = round(fx0 * w), round(fy0 * h)
    x1, y1 = min(w, x0 + max(2, round(side * w))), min(h, y0 + max(2, round(side * h)))
    return x0, y0, x1, y1


def box_share(frames: np.ndarray, geometry: ZoomGeometry) -> float:
    """The side of the clip's motion box as a share of the frame's (1.0: the whole frame)."""
    x0, _, x1, _ = motion_box(frames, geometry)
    return (x1 - x0) / frames.shape[2]


def cut(frames: np.ndarray, box: tuple[int, int, int, int], img_size: int) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, img_size, img_size, 3): every frame cut to the same box, then resized
    on its own (area interpolation)."""
    x0, y0, x1, y1 = box
    return np.stack([cv2.resize(f[y0:y1, x0:x1], (img_size, img_size), interpolation=cv2.INTER_AREA) for f in frames])


def work_size(img_size: int, geometry: ZoomGeometry | None) -> int:
    """The square side frames are decoded to: img_size, or geometry.decode times it for the motion zoom (None: no zoom)."""
    return img_size if geometry is None else img_size * geometry.decode


def zoom_clip(frames: np.ndarray, img_size: int, geometry: ZoomGeometry) -> np.ndarray:
    """(S, W', W', 3) uint8 RGB at work_size -> (S, img_size, img_size, 3): cut to the clip's motion box, resized."""
    return cut(frames, motion_box(frames, geometry), img_size)
