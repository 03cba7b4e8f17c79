"""Motion gating: skip the CNN for a frame whose view has not changed.

A cheap test per frame: the frame shrunk to a small grey thumbnail (area average, so sensor noise
averages out) against the thumbnail of the last frame the CNN saw; the share of thumbnail pixels
that changed by `pixel_delta` grey levels or more, under `min_area`, means "no change". A share,
not a mean difference: a small person moving in a wide view changes few pixels by a lot, and a
mean over the whole view would dilute that below any threshold that ignores noise. What the engine reuses for a gated
frame is exact only where it can be:
- rgb input: the features of the last frame the CNN saw (the view is that frame, within the
  threshold);
- diff input: the features of a zero difference (a still view differs by ~0 from the frame before);
- rgb+diff / others: no reuse that is close, so no gating (`gateable` says which).
The LSTM still steps in time over every frame: only the encoder call is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

GATEABLE = ("rgb", "diff")
"""Input modalities whose gated frames have a feature to reuse (see the module docstring)."""


@dataclass(frozen=True)
class MotionConfig:
    """When a frame counts as unchanged."""

    pixel_delta: float = 12.0
    """A thumbnail pixel changed when it moved by at least this many grey levels (0-255)."""
    min_area: float = 0.005
    """The share of changed thumbnail pixels (0-1) under which a frame is gated."""
    size: int = 32
    """Thumbnail side in pixels (the longer side; the aspect is kept)."""
    max_gap: int = 50
    """At most this many frames in a row are gated; then the CNN runs once (slow drifts get seen)."""

    def __post_init__(self) -> None:
        if not 0.0 < self.pixel_delta <= 255.0:
            raise ValueError(f"motion pixel_delta must be in (0, 255] grey levels, got {self.pixel_delta}")
        if not 0.0 <= self.min_area < 1.0:
            raise ValueError(f"motion min_area must be in [0, 1), got {self.min_area}")
        if not 4 <= self.size <= 256:
            raise ValueError(f"motion size must be in [4, 256] pixels, got {self.size}")
        if self.max_gap < 1:
            raise ValueError(f"motion max_gap must be >= 1, got {self.max_gap}")


def parse_motion(text: str) -> MotionConfig:
    """vc-run's --motion: `on` (the defaults) or `PIXEL_DELTA[,MIN_AREA[,MAX_GAP]]` -> MotionConfig;
    ValueError in one line."""
    if text.strip().lower() in ("on", "default", ""):
        return MotionConfig()
    parts = text.split(",")
    if len(parts) > 3:
        raise ValueError(f"motion {text!r}: expected on, or PIXEL_DELTA[,MIN_AREA[,MAX_GAP]]")
    try:
        delta = float(parts[0])
        area = float(parts[1]) if len(parts) > 1 else MotionConfig.min_area
        gap = int(parts[2]) if len(parts) > 2 else MotionConfig.max_gap
    except ValueError:
        raise ValueError(f"motion {text!r}: expected on, or numbers PIXEL_DELTA[,MIN_AREA[,MAX_GAP]]") from None
    return MotionConfig(pixel_delta=delta, min_area=area, max_gap=gap)


def gating_off(motion: MotionConfig | None, stateful: bool, modality: str, zoom: str = "none") -> str | None:
    """Why motion gating cannot apply to a stream (None: it can, or none was asked): the reason, one line."""
    if motion is None:
        return None
    if zoom != "none":
        return (
            "the model zooms into each window's motion: a still view's feature is not exact to reuse once the box moves"
        )
    if stateful:
        return "stateful mode runs one fused step part, with no encoder call to skip"
    if not gateable(modality):
        return f"the model's {modality} input has no feature that is exact to reuse (rgb and diff do)"
    return None


def gateable(modality: str) -> bool:
    return modality in GATEABLE


def thumbnail(bgr: np.ndarray, size: int) -> np.ndarray:
    """A small float32 grey image of the frame (area average), the longer side `size` pixels."""
    h, w = bgr.shape[:2]
    scale = size / max(h, w)
    tw, th = max(1, round(w * scale)), max(1, round(h * scale))
    grey = bgr if bgr.ndim == 2 else cv2.cvtColor(bgr[..., :3], cv2.COLOR_BGR2GRAY)
    return cv2.resize(grey, (tw, th), interpolation=cv2.INTER_AREA).astype(np.float32)


class MotionGate:
    """Per stream: `changed(frame)` says whether the CNN must see this frame; counts what it gated."""

    def __init__(self, config: MotionConfig | None = None):
        self.cfg = config or MotionConfig()
        self._ref: np.ndarray | None = None
        self._run = 0
        self.frames = 0
        self.gated = 0
        self.last_score = 0.0

    def changed(self, bgr: np.ndarray) -> bool:
        """True: run the CNN (and this frame becomes the reference); False: reuse, count it gated."""
        return self.changed_thumb(thumbnail(bgr, self.cfg.size))

    def changed_thumb(self, thumb: np.ndarray) -> bool:
        """`changed` on a frame's `thumbnail` made elsewhere (the scheduler's capture thread makes it,
        the inference loop decides, so the reference is always the last frame the CNN saw)."""
        self.frames += 1
        ref = self._ref
        if ref is None or ref.shape != thumb.shape or self._run >= self.cfg.max_gap:
            self.last_score = float("inf") if ref is None or ref.shape != thumb.shape else 0.0
            return self._take(thumb)
        self.last_score = float((np.abs(thumb - ref) >= self.cfg.pixel_delta).mean())
        if self.last_score >= self.cfg.min_area:
            return self._take(thumb)
        self._run += 1
        self.gated += 1
        return False

    def reset(self) -> None:
        """Forget the reference (a reconnect, a model swap): the next frame runs the CNN."""
        self._ref, self._run = None, 0

    def _take(self, thumb: np.ndarray) -> bool:
        self._ref, self._run = thumb, 0
        return True
