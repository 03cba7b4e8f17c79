"""The one preprocessing path shared by training, export parity checks and the runtime.

Steps, in order (each a function below, composed by `prepare_clip`):
1. `resize_rgb`: BGR -> RGB, bilinear resize to img_size x img_size, uint8 (what the clip cache stores).
2. `normalize`: float32 in [0, 1], then (x - mean) / std, layout (S, 3, H, W).
3. `apply_modality`: rgb, diff or rgb+diff -> (T, C, H, W) model input.

Modalities (input channels C):
- ``rgb`` (3): the T sampled frames.
- ``diff`` (3): T differences between consecutive *sampled* frames. A clip of T steps therefore
  samples T + 1 frames and step t is frame[t+1] - frame[t] (in a clip padded by repeated
  frames, the differences of its distinct frames spread over the T steps: `frame_diffs`).
  Stream mode does the same: it keeps the previous sampled frame and differences it with the new one, once per frame.
- ``rgb+diff`` (6): the rgb of frames 1..T stacked with the T differences, channels [rgb, diff].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

MODALITIES = ("rgb", "diff", "rgb+diff")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SIMPLE_MEAN = (0.5, 0.5, 0.5)
SIMPLE_STD = (0.5, 0.5, 0.5)
NORMALISATION = {"imagenet": (IMAGENET_MEAN, IMAGENET_STD), "simple": (SIMPLE_MEAN, SIMPLE_STD)}
"""(mean, std) by the name a model family's spec gives (lrcn.models.specs.FamilySpec.normalisation)."""


@dataclass(frozen=True)
class PreprocessSpec:
    """Everything needed to turn decoded frames into model input; stored in configs and ONNX metadata."""

    img_size: int = 128
    """Square side the frames are resized to."""
    mean: tuple[float, float, float] = SIMPLE_MEAN
    """Per-channel mean, RGB order, on the [0, 1] scale."""
    std: tuple[float, float, float] = SIMPLE_STD
    """Per-channel std, RGB order, on the [0, 1] scale."""
    modality: str = "rgb"
    """One of MODALITIES."""
    channel_order: str = "RGB"
    layout: str = "TCHW"

    def __post_init__(self) -> None:
        if self.img_size < 8:
            raise ValueError(f"img_size must be >= 8, got {self.img_size}")
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {', '.join(MODALITIES)}, got {self.modality!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std need 3 values each, std > 0")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @property
    def channels(self) -> int:
        return channels_for(self.modality)

    @property
    def extra_frames(self) -> int:
        """Frames sampled beyond T: a diff needs the sampled frame before the first step."""
        return extra_frames_for(self.modality)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PreprocessSpec:
        keys = {f for f in cls.__dataclass_fields__}
        kwargs: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in keys}
        return cls(**kwargs)


def channels_for(modality: str) -> int:
    return 6 if modality == "rgb+diff" else 3


def extra_frames_for(modality: str) -> int:
    return 0 if modality == "rgb" else 1


def resize_rgb(frame: np.ndarray, img_size: int) -> np.ndarray:
    """One decoded frame (H, W[, 1|3|4]) uint8 BGR(A) or gray -> (img_size, img_size, 3) uint8 RGB."""
    if frame.dtype != np.uint8:  # 16-bit decodes: keep the top 8 bits
        frame = (frame >> 8).astype(np.uint8) if frame.dtype == np.uint16 else frame.astype(np.uint8)
    if frame.ndim == 2 or frame.shape[2] == 1:
        rgb = cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
    elif frame.shape[2] == 4:
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB)
    else:
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    if rgb.shape[0] != img_size or rgb.shape[1] != img_size:
        rgb = cv2.resize(rgb, (img_size, img_size), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(rgb)


def normalize(frames_rgb: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """(S, H, W, 3) uint8 RGB -> (S, 3, H, W) float32, scaled to [0, 1] and normalised."""
    x = frames_rgb.astype(np.float32) * np.float32(1.0 / 255.0)
    x -= np.asarray(spec.mean, dtype=np.float32)
    x /= np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def apply_modality(x: np.ndarray, modality: str) -> np.ndarray:
    """(S, 3, H, W) normalised frames -> (T, C, H, W); S = T + extra_frames_for(modality)."""
    if modality == "rgb":
        return x
    if x.shape[0] < 2:
        raise ValueError(f"modality {modality!r} needs at least 2 sampled frames, got {x.shape[0]}")
    diff = frame_diffs(x)
    if modality == "diff":
        return np.ascontiguousarray(diff)
    return np.ascontiguousarray(np.concatenate([x[1:], diff], axis=1))


def frame_diffs(x: np.ndarray) -> np.ndarray:
    """(S, C, H, W) -> the S - 1 differences of consecutive frames, padding-aware.

    A clip shorter than S is padded by repeating frames, and a repeat differenced with itself
    is an all-zero step: a 7-frame clip at T = 15 would be half zeros. So the differences are
    taken between the distinct frames (a frame equal to the one before is a repeat) and then
    spread evenly over the S - 1 steps, each real difference repeated in order. A clip without
    repeats is unchanged: x[1:] - x[:-1].
    """
    s = x.shape[0]
    same = np.array([np.array_equal(x[t], x[t - 1]) for t in range(1, s)], dtype=bool)
    if not same.any() or same.all():
        return x[1:] - x[:-1]
    distinct = x[np.concatenate([[True], ~same])]
    d = distinct[1:] - distinct[:-1]
    steps = s - 1
    return d[(np.arange(steps) * len(d)) // steps]


def prepare_clip(frames_rgb: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Cached/resized uint8 RGB frames (S, H, W, 3) -> model input (T, C, H, W) float32."""
    return apply_modality(normalize(frames_rgb, spec), spec.modality)


def preprocess_bgr(frames_bgr: list[np.ndarray] | np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Raw decoded BGR frames -> model input (T, C, H, W); the whole path in one call."""
    rgb = np.stack([resize_rgb(f, spec.img_size) for f in frames_bgr])
    return prepare_clip(rgb, spec)
