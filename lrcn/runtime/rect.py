"""A rectangle of the view in fractions of the frame, (x0, y0, x1, y1): a zone's (`vc-run --zone`)
and a model's region (`vc-train --region`, `PreprocessSpec.region`). One owner for checking one,
reading one from text, its pixels in a frame and the crop.

Contract: 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1; in a (H, W) frame its pixels are at least 2 x 2.
"""

from __future__ import annotations

import math

import numpy as np

Rect = tuple[float, float, float, float]
WHOLE: Rect = (0.0, 0.0, 1.0, 1.0)
"""The whole frame: no cut."""


def rect_problem(rect) -> str | None:
    """What is wrong with `rect` as a rectangle of the view (None: nothing). Reads JSON too."""
    ok = isinstance(rect, (list, tuple)) and len(rect) == 4
    ok = ok and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in rect)
    if not ok or not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in rect):
        return "must be 4 numbers x0,y0,x1,y1 within [0, 1]"
    x0, y0, x1, y1 = rect
    if not (x0 < x1 and y0 < y1):
        return f"must have x0 < x1 and y0 < y1, got {rect_text(rect)}"
    return None


def as_rect(rect) -> Rect:
    """A checked rectangle as a tuple of 4 floats; ValueError saying what is wrong."""
    problem = rect_problem(rect)
    if problem:
        raise ValueError(problem)
    return tuple(float(v) for v in rect)  # type: ignore[return-value]  # 4, checked above


def rect_text(rect) -> str:
    """`x0,y0,x1,y1` as `parse_rect` reads it (0.4, not 0.40000000000000002)."""
    return ",".join(f"{v:g}" for v in rect)


def parse_rect(text: str) -> Rect:
    """`x0,y0,x1,y1` (fractions of the frame) -> Rect; ValueError in one line."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"must be 4 numbers x0,y0,x1,y1 within [0, 1], got {text!r}") from None
    return as_rect(values)


def pixel_box(rect: Rect, width: int, height: int) -> tuple[int, int, int, int]:
    """The rectangle in pixels (x0, y0, x1, y1) of a width x height frame, at least 2 x 2."""
    x0, y0, x1, y1 = rect
    px0, py0 = min(int(x0 * width), width - 2), min(int(y0 * height), height - 2)
    px1, py1 = max(round(x1 * width), px0 + 2), max(round(y1 * height), py0 + 2)
    return px0, py0, min(px1, width), min(py1, height)


def crop(image: np.ndarray, rect: Rect) -> np.ndarray:
    """(H, W[, C]) -> the rectangle of it (a view, not a copy); the image itself for WHOLE."""
    if rect == WHOLE:
        return image
    h, w = image.shape[:2]
    x0, y0, x1, y1 = pixel_box(rect, w, h)
    return image[y0:y1, x0:x1]
