"""The dashboard's picture of a stream: its newest frame, scaled, with the label on a solid band, as JPEG."""

from __future__ import annotations

import cv2
import numpy as np

TILE_W = 320


def annotate(image: np.ndarray, label: str, probability: float | None, fps: float) -> np.ndarray:
    """A TILE_W-wide copy of the BGR frame with a dark band: label, probability, fps."""
    h, w = image.shape[:2]
    tile = cv2.resize(
        image,
        (TILE_W, max(1, round(h * TILE_W / max(w, 1)))),
        interpolation=cv2.INTER_AREA if w > TILE_W else cv2.INTER_LINEAR,
    )
    band = 26
    cv2.rectangle(tile, (0, 0), (TILE_W, band), (32, 32, 32), thickness=-1)
    prob = "" if probability is None else f" {probability:.2f}"
    cv2.putText(tile, f"{label}{prob}", (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    text = f"{fps:.1f} fps"
    (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.45, 1)
    cv2.putText(tile, text, (TILE_W - tw - 6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (200, 200, 200), 1, cv2.LINE_AA)
    return tile


def jpeg(image: np.ndarray, quality: int = 80) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()
