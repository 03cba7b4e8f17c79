"""The motion zoom: cut a clip to where it moves, before resizing (`--zoom motion`).

A fixed wide camera shows people a few pixels tall once a frame is resized to 64 px; the
action is in a small part of the frame. `motion_box` finds that part from the clip's own frame
differences and `cut` cuts every frame of the clip to it, so the model sees the people
at a size it can learn from. One box per clip (a box per frame would make the crop move with
the noise): the box is a zoom of the frame (its aspect ratio, at most `MAX_ZOOM` times), so a
still clip, or one moving everywhere, keeps the whole frame.

Contract: frames (N, H, W, 3) uint8 -> box (x0, y0, x1, y1) in pixels, x1 - x0 = W / zoom,
y1 - y0 = H / zoom, inside the frame. Decoding keeps frames at `work_size` (MAX_ZOOM times the
model's side) so that the most zoomed box still holds img_size pixels; `zoom_clip` then gives
the model's (S, img_size, img_size, 3). Training, clip mode and the export gate all go through
`video.clip_from_video`, which calls it: one path.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

ZOOMS = ("none", "motion")
"""Values of PreprocessSpec.zoom."""
ANALYSIS_WIDTH = 96
"""Frames are compared at this width (grey, blurred): cheap, and pixel noise averages out."""
MAX_ZOOM = 4.0
"""The box is never smaller than 1/MAX_ZOOM of the frame's side."""
MARGIN = 0.25
"""The box grows by this share of the moving region's size on every side."""
QUANTILE = 0.05
"""The moving region spans the 5th to 95th percentile of motion along each axis."""
GRID = 16
"""The box's side is a multiple of 1/GRID of the frame's, its corner of 1/(2 GRID): a stream's box
then stays put while its people move a little, and its window's features are kept (FrameInput)."""


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


def motion_box(frames: np.ndarray) -> tuple[int, int, int, int]:
    """(N, H, W[, 3]) uint8 frames -> the crop box (x0, y0, x1, y1) in pixels (the whole frame when still)."""
    h, w = frames.shape[1:3]
    greys = np.stack([analysis_grey(f) for f in frames])
    return box_from_diffs(np.abs(np.diff(greys, axis=0)), h, w)


def pair_diff(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """|after - before| of two `analysis_grey`s: what `box_from_diffs` reads for one pair of frames."""
    return np.abs(after - before)


def box_from_diffs(d: np.ndarray, h: int, w: int) -> tuple[int, int, int, int]:
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
    side = max(bw * (1 + 2 * MARGIN), bh * (1 + 2 * MARGIN), 1 / MAX_ZOOM)
    side = math.ceil(side * GRID - 1e-9) / GRID
    if side >= 1:
        return whole
    cx, cy = (x_lo + x_hi) / 2, (y_lo + y_hi) / 2
    fx0 = min(max(round((cx - side / 2) * 2 * GRID) / (2 * GRID), 0.0), 1 - side)
    fy0 = min(max(round((cy - side / 2) * 2 * GRID) / (2 * GRID), 0.0), 1 - side)
    x0, y0 = round(fx0 * w), round(fy0 * h)
    x1, y1 = min(w, x0 + max(2, round(side * w))), min(h, y0 + max(2, round(side * h)))
    return x0, y0, x1, y1


def box_share(frames: np.ndarray) -> float:
    """The side of the clip's motion box as a share of the frame's (1.0: the whole frame)."""
    x0, _, x1, _ = motion_box(frames)
    return (x1 - x0) / frames.shape[2]


def cut(frames: np.ndarray, box: tuple[int, int, int, int], img_size: int) -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, img_size, img_size, 3): every frame cut to the same box, then resized
    on its own (area interpolation)."""
    x0, y0, x1, y1 = box
    return np.stack([cv2.resize(f[y0:y1, x0:x1], (img_size, img_size), interpolation=cv2.INTER_AREA) for f in frames])


def work_size(img_size: int, zoom: str) -> int:
    """The square side frames are decoded to: img_size, or MAX_ZOOM times it for the motion zoom."""
    return img_size * int(MAX_ZOOM) if zoom == "motion" else img_size


def zoom_clip(frames: np.ndarray, img_size: int) -> np.ndarray:
    """(S, W', W', 3) uint8 RGB at work_size -> (S, img_size, img_size, 3): cut to the clip's motion box, resized."""
    return cut(frames, motion_box(frames), img_size)
