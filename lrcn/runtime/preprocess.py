"""The one preprocessing path shared by training, export parity checks and the runtime.

Steps, in order (each a function below, composed by `prepare_clip`):
1. `resize_rgb`: a model with a region (``region``, `lrcn.runtime.rect`) first cuts every decoded
   frame to it, a fixed part of one camera's view; then BGR -> RGB, bilinear resize to
   img_size x img_size, uint8 (what the clip cache stores);
   with ``zoom="motion"`` frames decode at `roi.work_size` and each clip is cut to its motion box
   and resized to img_size (`roi.zoom_clip`, called by `video.clip_from_video`).
2. `normalize`: float32 in [0, 1], then (x - mean) / std, layout (S, 3, H, W).
3. the modality rule, owned here for both modes: `apply_modality` over a clip's S sampled frames
   -> (T, C, H, W), and `FrameInput`, the same rule one sampled frame at a time for streams.

Modalities (input channels C):
- ``rgb`` (3): the T sampled frames.
- ``diff`` (3): T differences between consecutive *sampled* frames. A clip of T steps therefore
  samples T + 1 frames and step t is frame[t+1] - frame[t] (in a clip padded by repeated
  frames, the steps pair its distinct frames, spread over the T steps: `step_pairs`).
- ``flow`` (2): T dense optical flows (dx, dy) between the same pairs of sampled frames, from
  their grey images at the model's input size (`lrcn.runtime.flow`: DIS, scaled to [-1, 1]).
- ``adiff`` (3): the same differences with the camera's motion taken out: the earlier frame of
  each pair is first moved by the pair's global shift (`lrcn.runtime.align`: the median DIS
  flow between their grey images), for a panning or shaking camera.
- ``rgb+diff`` (6), ``rgb+flow`` (5), ``rgb+adiff`` (6): the rgb of frames 1..T stacked with the
  T motion steps, channels [rgb, motion].
Stream mode (`FrameInput`) keeps the previous sampled frame (and its grey image for flow and
adiff) and computes one step per new frame, never recomputing over the window. A zoomed model
(``zoom="motion"``) is the exception: its box is its window's own, as in clip mode, so when the box
moves its stream input is the whole window, cut and prepared again (T encoder passes); while the
box stays, one step per new frame as above (see `FrameInput`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

from lrcn.runtime.align import aligned_diff, pair_shift
from lrcn.runtime.flow import frame_flow, grey
from lrcn.runtime.rect import WHOLE, Rect, as_rect, crop
from lrcn.runtime.roi import FIRST_GEOMETRY, ZOOMS, ZoomGeometry, analysis_grey, box_from_diffs, cut, pair_diff

CHANNELS = {"rgb": 3, "diff": 3, "rgb+diff": 6, "flow": 2, "rgb+flow": 5, "adiff": 3, "rgb+adiff": 6}
"""Input channels by modality."""
MODALITIES = tuple(CHANNELS)
MIN_DIS_SIZE = 12
"""OpenCV's DIS flow refuses frames under 12 pixels a side: the smallest img_size for flow and adiff."""
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
    zoom: str = "none"
    """"motion": each clip is cut to where it moves before the resize (`lrcn.runtime.roi`)."""
    zoom_geometry: ZoomGeometry = field(default_factory=ZoomGeometry)
    """How the zoom draws its box and how large frames decode (read only with zoom "motion")."""
    region: Rect = WHOLE
    """x0, y0, x1, y1 in fractions of the decoded frame: every frame is cut to it first (before the
    zoom's box and the resize), in training and wherever the model runs. WHOLE: no cut."""
    channel_order: str = "RGB"
    layout: str = "TCHW"

    def __post_init__(self) -> None:
        if self.img_size < 8:
            raise ValueError(f"img_size must be >= 8, got {self.img_size}")
        if self.modality not in MODALITIES:
            raise ValueError(f"modality must be one of {', '.join(MODALITIES)}, got {self.modality!r}")
        if needs_grey(self.modality) and self.img_size < MIN_DIS_SIZE:
            raise ValueError(
                f"modality {self.modality!r} needs img_size >= {MIN_DIS_SIZE} (DIS flow), got {self.img_size}"
            )
        if self.zoom not in ZOOMS:
            raise ValueError(f"zoom must be one of {', '.join(ZOOMS)}, got {self.zoom!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std need 3 values each, std > 0")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        try:
            object.__setattr__(self, "region", as_rect(self.region))  # a list as saved in JSON
        except ValueError as e:
            raise ValueError(f"region {e}") from None
        geometry = ZoomGeometry.from_dict(self.zoom_geometry)  # a dict as saved (to_dict)
        # whole frames read no geometry: they all carry the first, so two plain specs are equal
        # whichever lrcn wrote them (a hot reload compares specs)
        object.__setattr__(self, "zoom_geometry", geometry if self.zoom != "none" else FIRST_GEOMETRY)

    @property
    def zoomed(self) -> ZoomGeometry | None:
        """The geometry a zoomed model cuts with; None for whole frames."""
        return self.zoom_geometry if self.zoom != "none" else None

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
        """A saved spec; one saved before zoom_geometry was recorded was cut with `roi.FIRST_GEOMETRY`."""
        keys = {f for f in cls.__dataclass_fields__}
        kwargs: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in keys}
        kwargs.setdefault("zoom_geometry", FIRST_GEOMETRY)
        return cls(**kwargs)


def channels_for(modality: str) -> int:
    """Input channels of a modality (3 for a name that is not one: the checks that refuse it say so)."""
    return CHANNELS.get(modality, 3)


def extra_frames_for(modality: str) -> int:
    return 0 if modality == "rgb" else 1


def motion_of(modality: str) -> str:
    """The motion part of a modality: "diff", "adiff" or "flow" ("" for rgb)."""
    return "" if modality == "rgb" else modality.removeprefix("rgb+")


def needs_grey(modality: str) -> bool:
    """Whether the modality's motion step reads grey images of the uint8 frames (flow, adiff)."""
    return motion_of(modality) in ("flow", "adiff")


def resize_rgb(frame: np.ndarray, img_size: int, region: Rect = WHOLE) -> np.ndarray:
    """One decoded frame (H, W[, 1|3|4]) uint8 BGR(A) or gray -> (img_size, img_size, 3) uint8 RGB,
    of its `region` (the model's `PreprocessSpec.region`; the whole frame by default)."""
    frame = crop(frame, region)
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


def apply_modality(x: np.ndarray, modality: str, rgb: np.ndarray | None = None) -> np.ndarray:
    """(S, 3, H, W) normalised frames -> (T, C, H, W); S = T + extra_frames_for(modality).

    The flow and adiff modalities also need the same frames as resized uint8 RGB (S, H, W, 3): `rgb`."""
    if modality == "rgb":
        return x
    if x.shape[0] < 2:
        raise ValueError(f"modality {modality!r} needs at least 2 sampled frames, got {x.shape[0]}")
    pairs = step_pairs(x)
    parts = [x[1:]] if modality.startswith("rgb+") else []
    motion = motion_of(modality)
    if needs_grey(modality) and (rgb is None or len(rgb) != len(x)):
        raise ValueError(f"modality {modality!r} needs the {len(x)} frames as uint8 RGB (rgb=...)")
    if motion == "diff":
        parts.append(x[pairs[:, 1]] - x[pairs[:, 0]])
    elif motion == "adiff":
        parts.append(clip_aligned_diffs(x, rgb, pairs))  # type: ignore[arg-type]  # checked above
    elif motion == "flow":
        parts.append(clip_flows(rgb, pairs))  # type: ignore[arg-type]  # checked above
    return np.ascontiguousarray(parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1))


def step_pairs(x: np.ndarray) -> np.ndarray:
    """(S, ...) sampled frames -> (S - 1, 2) indices (before, after) of the frames each step compares.

    Padding-aware: a clip shorter than S is padded by repeating frames, and a repeat compared
    with itself is an all-zero step (a 7-frame clip at T = 15 would be half zeros). So the steps
    pair the distinct frames (a frame equal to the one before is a repeat), spread evenly over
    the S - 1 steps, each real pair repeated in order. A clip without repeats pairs (t, t + 1).
    """
    s = x.shape[0]
    same = np.array([np.array_equal(x[t], x[t - 1]) for t in range(1, s)], dtype=bool)
    if not same.any() or same.all():
        return np.stack([np.arange(s - 1), np.arange(1, s)], axis=1)
    distinct = np.flatnonzero(np.concatenate([[True], ~same]))
    j = (np.arange(s - 1) * (len(distinct) - 1)) // (s - 1)
    return np.stack([distinct[j], distinct[j + 1]], axis=1)


def clip_flows(rgb: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """(S, H, W, 3) uint8 RGB and its step pairs -> (S - 1, 2, H, W) flows."""
    greys = [grey(f) for f in rgb]
    return per_pair(pairs, lambda a, b: frame_flow(greys[a], greys[b]))


def clip_aligned_diffs(x: np.ndarray, rgb: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Normalised (S, 3, H, W), uint8 RGB (S, H, W, 3) and step pairs -> (S - 1, 3, H, W) aligned differences."""
    greys = [grey(f) for f in rgb]
    return per_pair(pairs, lambda a, b: aligned_diff(x[a], x[b], pair_shift(greys[a], greys[b])))


def per_pair(pairs: np.ndarray, step: Callable[[int, int], np.ndarray]) -> np.ndarray:
    """`step(before, after)` for each row of `pairs`, stacked; a pair that repeats (a padded clip) is computed once."""
    done: dict[tuple[int, int], np.ndarray] = {}
    for a, b in pairs.tolist():
        if (a, b) not in done:
            done[(a, b)] = step(a, b)
    return np.stack([done[(a, b)] for a, b in pairs.tolist()])


class FrameInput:
    """One sampled frame -> model input (C, H, W), as `apply_modality` treats it inside a clip.

    The motion modalities keep the previous sampled frame (normalised for diff, grey for flow,
    both for adiff) and take one step per new frame; the first frame only primes them (None).

    A zoomed model (``spec.zoom == "motion"``) takes its frames at `roi.work_size` and is
    `ZoomWindow`'s: it needs num_frames.
    """

    def __init__(self, spec: PreprocessSpec, num_frames: int | None = None):
        self.spec = spec
        self.prev: np.ndarray | None = None
        self.prev_grey: np.ndarray | None = None
        self.primed = False
        self.zoom: ZoomWindow | None = None
        if spec.zoom != "none":
            if not num_frames:
                raise ValueError(f"zoom {spec.zoom!r} cuts whole windows: FrameInput needs num_frames")
            self.zoom = ZoomWindow(spec, num_frames)

    def __call__(
        self, rgb: np.ndarray, x: np.ndarray | None = None, box_grey: np.ndarray | None = None
    ) -> np.ndarray | None:
        """`rgb`: the frame resized (H, W, 3) uint8; `x`: the same through `normalize` (3, H, W)
        when the caller has it already (the scheduler's capture threads normalise beside inference);
        `box_grey`: for a zoomed model, `roi.analysis_grey(rgb)` when the caller has it (the same threads)."""
        if self.zoom is not None:
            return self.zoom(rgb, box_grey)
        m = self.spec.modality
        motion = motion_of(m)
        if x is None and m != "flow":
            x = normalize(rgb[None], self.spec)[0]
        if m == "rgb":
            return x
        primed, self.primed = self.primed, True
        parts: list[np.ndarray] = []
        if m.startswith("rgb+"):
            assert x is not None  # normalised above
            parts.append(x)
        prev, self.prev = self.prev, x
        if needs_grey(m):
            g = grey(rgb)
            prev_grey, self.prev_grey = self.prev_grey, g
        if primed:
            if motion == "diff":
                parts.append(x - prev)  # type: ignore[operator]  # both normalised: not flow
            elif motion == "adiff":
                parts.append(aligned_diff(prev, x, pair_shift(prev_grey, g)))  # type: ignore[arg-type]
            elif motion == "flow":
                parts.append(frame_flow(prev_grey, g))  # type: ignore[arg-type]
        if not primed:
            return None
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)


class ZoomWindow:
    """A zoomed model's stream input: the last S = num_frames + extra_frames frames (at
    `roi.work_size`), cut to that window's own motion box, as clip mode cuts a clip.

    Once S frames are in, each frame finds the window's box from the frames' grey differences
    (one new `roi.pair_diff` a frame; the others are kept). A new box returns the whole window cut
    to it, `prepare_clip` of it (T, C, H, W): what clip mode makes of those frames. The same box as
    the frame before returns only the new frame's step (C, H, W), cut alike, and the engine keeps
    the other T - 1 features (the box is on a grid, `ZoomGeometry.grid`, so it stays put while the people
    move a little), unless the window holds a cut frame equal to the one before it: clip mode then
    pairs the distinct frames (`step_pairs`), so the whole window is returned again.
    """

    def __init__(self, spec: PreprocessSpec, num_frames: int):
        self.spec = spec
        s = num_frames + spec.extra_frames
        self.frames: deque[np.ndarray] = deque(maxlen=s)
        self.diffs: deque[np.ndarray] = deque(maxlen=s - 1)
        self.grey: np.ndarray | None = None
        """The newest frame's analysis grey (the next difference's `before`)."""
        self.box: tuple[int, int, int, int] | None = None
        self.repeats: deque[bool] = deque(maxlen=s - 1)
        """Whether each cut frame of the window equals the one before (pairs, newest last)."""

    def __call__(self, rgb: np.ndarray, grey: np.ndarray | None = None) -> np.ndarray | None:
        g = analysis_grey(rgb) if grey is None else grey
        if self.grey is not None:
            self.diffs.append(pair_diff(self.grey, g))
        self.grey = g
        self.frames.append(rgb)
        if len(self.frames) < (self.frames.maxlen or 0):
            return None
        h, w = rgb.shape[:2]
        box = box_from_diffs(np.stack(self.diffs), h, w, self.spec.zoom_geometry) if self.diffs else (0, 0, w, h)
        same, self.box = box == self.box, box
        size, extra = self.spec.img_size, self.spec.extra_frames
        if same:
            newest = cut(np.stack(list(self.frames)[-1 - extra :]), box, size)
            self.repeats.append(extra > 0 and np.array_equal(newest[0], newest[-1]))
            if not any(self.repeats):
                return prepare_clip(newest, self.spec)[-1]
            # a cut frame equal to the one before: clip mode re-pairs the window's steps (step_pairs)
        window = cut(np.stack(self.frames), box, size)
        self.repeats.clear()
        self.repeats.extend(extra > 0 and np.array_equal(window[i - 1], window[i]) for i in range(1, len(window)))
        return prepare_clip(window, self.spec)


def prepare_clip(frames_rgb: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Cached/resized uint8 RGB frames (S, H, W, 3) -> model input (T, C, H, W) float32."""
    return apply_modality(normalize(frames_rgb, spec), spec.modality, frames_rgb)


def preprocess_bgr(frames_bgr: list[np.ndarray] | np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Raw decoded BGR frames -> model input (T, C, H, W); the whole path in one call."""
    rgb = np.stack([resize_rgb(f, spec.img_size, spec.region) for f in frames_bgr])
    return prepare_clip(rgb, spec)
