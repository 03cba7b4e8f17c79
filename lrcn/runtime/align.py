"""The aligned difference (``adiff``): a frame difference with the camera's own motion taken out.

A plain difference reads a panning or shaking camera as motion everywhere: every edge of the
background moves. ``adiff`` first estimates the shift between the two frames as a whole and
moves the earlier frame by it, so what is left is what moved against the background.

- Shift: the per-axis median of the dense DIS flow between the two grey frames
  (`lrcn.runtime.flow.dis_field`, the flow modality's own call). The median follows the
  background as long as the background fills most of the frame, so people who move in front of
  a still camera leave it near zero (on UT-Interaction, 0.04 px median at 64 px) where a phase
  correlation of the whole frame locked onto them (0.37 px). It is clipped to +-`MAX_SHIFT` of
  the side, the flow modality's range.
- Warp: the earlier normalised frame moves by (dx, dy) with bilinear interpolation, and the
  difference is weighted by how much of each pixel the moved frame still covers, so the strip
  that enters the view is zero rather than a false edge. A shift of exactly zero is the plain
  difference.
- Pure translation only: a zoom or a rotation is left in the difference.
"""

from __future__ import annotations

import cv2
import numpy as np

from lrcn.runtime.flow import FLOW_RANGE, dis_field

MAX_SHIFT = FLOW_RANGE
"""The largest shift taken out, as a fraction of the frame side (larger is clipped to it)."""


def pair_shift(prev_grey: np.ndarray, cur_grey: np.ndarray) -> tuple[float, float]:
    """Two grey frames (H, W) uint8 -> (dx, dy) pixels that carry the background of `prev` onto `cur`."""
    field = dis_field(prev_grey, cur_grey)
    k = max(prev_grey.shape) * MAX_SHIFT
    dx, dy = (float(np.clip(np.median(field[..., i]), -k, k)) for i in (0, 1))
    return dx, dy


def aligned_diff(prev: np.ndarray, cur: np.ndarray, shift: tuple[float, float]) -> np.ndarray:
    """Normalised frames (C, H, W) float32 and `pair_shift` -> (C, H, W): cur - prev moved by the shift.

    Pixels that the moved frame covers only in part are weighted by their coverage (0 outside it)."""
    dx, dy = shift
    if dx == 0.0 and dy == 0.0:
        return cur - prev
    c, h, w = prev.shape
    m = np.array([[1, 0, dx], [0, 1, dy]], dtype=np.float32)
    moved = cv2.warpAffine(
        np.ascontiguousarray(prev.transpose(1, 2, 0)),
        m,
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    cover = cv2.warpAffine(np.ones((h, w), np.float32), m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0.0)
    moved = np.asarray(moved).reshape(h, w, c).transpose(2, 0, 1)
    return np.ascontiguousarray((cur - moved) * cover[None], dtype=np.float32)
