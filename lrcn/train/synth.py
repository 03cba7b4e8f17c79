"""Built-in synthetic action dataset: real video files of moving shapes (numpy + OpenCV only).

The class is the motion, never a single frame: every class draws its first frame from the
same distribution (shape, colour, size, angle, position, clutter, noise), so a one-frame
model is at chance. Shapes wrap around the frame edges (toroidal), so position never tells
the direction of travel. File names carry UCF101-style group ids (v_<Class>_gNN_cMM) so the
group-aware split is exercised, but every clip has its own scene: a scene shared by the
clips of one class-group would be a shortcut (the class is learnable from the background).
"""

from __future__ import annotations

import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

CLASSES = (
    "grow",
    "move_down",
    "move_down_right",
    "move_left",
    "move_right",
    "move_up",
    "move_up_left",
    "rotate_ccw",
    "rotate_cw",
    "shrink",
)
_DIRECTIONS = {
    "move_down": (0, 1),
    "move_down_right": (1 / math.sqrt(2), 1 / math.sqrt(2)),
    "move_left": (-1, 0),
    "move_right": (1, 0),
    "move_up": (0, -1),
    "move_up_left": (-1 / math.sqrt(2), -1 / math.sqrt(2)),
}
# Rotationally asymmetric outlines in unit coordinates (no circles: their rotation is invisible).
_SHAPES = {
    "triangle": [(0, -1), (0.8, 0.7), (-0.8, 0.7)],
    "bar": [(-1, -0.45), (1, -0.45), (1, 0.45), (-1, 0.45)],
    "ell": [(-0.8, -1), (-0.2, -1), (-0.2, 0.4), (0.8, 0.4), (0.8, 1), (-0.8, 1)],
    "arrow": [(-1, -0.3), (0.2, -0.3), (0.2, -0.8), (1, 0), (0.2, 0.8), (0.2, 0.3), (-1, 0.3)],
    "kite": [(0, -1), (0.6, -0.1), (0, 1), (-0.35, -0.1)],
}
GROUP_SIZE = 4


@dataclass(frozen=True)
class SynthConfig:
    """What `vc-data synth` makes."""

    classes: int = 10
    """How many of the built-in motion classes to use (2..10)."""
    clips_per_class: int = 200
    frames: int = 30
    """Frames per video (30 fps, so 1 s by default)."""
    size: int = 128
    """Width and height of the videos in pixels."""
    seed: int = 0
    fps: float = 30.0

    def __post_init__(self) -> None:
        if not 2 <= self.classes <= len(CLASSES):
            raise ValueError(f"classes must be in 2..{len(CLASSES)}, got {self.classes}")
        if self.clips_per_class < 1:
            raise ValueError(f"clips_per_class must be >= 1, got {self.clips_per_class}")
        if self.frames < 2:
            raise ValueError(f"frames must be >= 2, got {self.frames}")
        if self.size < 32:
            raise ValueError(f"size must be >= 32, got {self.size}")


def _scene(rng: np.random.Generator, size: int) -> np.ndarray:
    """A static cluttered background (BGR uint8)."""
    base = rng.integers(10, 110, size=3)
    img = np.empty((size, size, 3), np.uint8)
    img[:] = base.astype(np.uint8)
    for _ in range(int(rng.integers(2, 7))):
        colour = tuple(int(c) for c in np.clip(base + rng.integers(-35, 35, size=3), 0, 255))
        kind = rng.integers(3)
        p1 = tuple(int(v) for v in rng.integers(0, size, 2))
        if kind == 0:
            p2 = tuple(int(v) for v in rng.integers(0, size, 2))
            cv2.line(img, p1, p2, colour, int(rng.integers(1, 4)))
        elif kind == 1:
            p2 = tuple(int(v) for v in (np.array(p1) + rng.integers(5, size // 3, 2)))
            cv2.rectangle(img, p1, p2, colour, -1)
        else:
            cv2.circle(img, p1, int(rng.integers(3, size // 6)), colour, -1)
    return img


def _shape_colour(rng: np.random.Generator, scene: np.ndarray) -> tuple[int, int, int]:
    """A random hue, brighter than the (darker) scene, so the mover stands out from clutter."""
    mean = scene.reshape(-1, 3).mean(0)
    for _ in range(50):
        c = rng.integers(60, 256, 3)
        if (c - mean).sum() > 240:
            break
    return tuple(int(v) for v in c)


def render_clip(cls: str, rng: np.random.Generator, scene: np.ndarray, frames: int) -> list[np.ndarray]:
    """The BGR frames of one clip of class `cls`."""
    size = scene.shape[0]
    k = size / 128.0
    outline = np.array(_SHAPES[list(_SHAPES)[int(rng.integers(len(_SHAPES)))]], np.float64)
    colour = _shape_colour(rng, scene)
    s0 = rng.uniform(11, 22) * k
    angle0 = rng.uniform(0, 2 * math.pi)
    pos0 = rng.uniform(0, size, 2)
    drift = rng.normal(0, 0.15 * k, 2)  # every class drifts a little, so "still" is no cue
    noise = rng.uniform(0, 5)
    speed = rng.uniform(2.0, 3.5) * k  # px per frame
    spin = math.radians(rng.uniform(4, 8)) * (1 if cls == "rotate_cw" else -1)
    ratio = rng.uniform(1.7, 2.3)  # size change over the clip, for grow and shrink
    rate = ratio ** (1 / (frames - 1)) if cls == "grow" else ratio ** (-1 / (frames - 1))
    direction = np.array(_DIRECTIONS.get(cls, (0.0, 0.0)))
    out = []
    centre = np.array([size / 2, size / 2])
    for t in range(frames):
        scale = s0 * (rate**t if cls in ("grow", "shrink") else 1.0)
        angle = angle0 + (spin * t if cls.startswith("rotate") else 0.0)
        pos = pos0 + drift * t + direction * speed * t
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        pts = (outline @ rot.T) * scale + centre
        layer = np.zeros((size, size), np.uint8)
        cv2.fillPoly(layer, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
        shift = np.round(pos - centre).astype(int)
        layer = np.roll(layer, (int(shift[1]), int(shift[0])), axis=(0, 1))  # wrap around the edges
        alpha = layer[..., None].astype(np.float32) / 255.0
        frame = scene.astype(np.float32) * (1 - alpha) + np.array(colour, np.float32) * alpha
        frame += rng.normal(0, noise, frame.shape).astype(np.float32)
        out.append(np.clip(frame, 0, 255).astype(np.uint8))
    return out


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """MJPG .avi, which every OpenCV build can write and read."""
    h, w = frames[0].shape[:2]
    tmp = path.with_name(path.stem + ".partial.avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot write MJPG video here")
    for f in frames:
        writer.write(f)
    writer.release()
    tmp.replace(path)


def _write_one(job: tuple[str, int, str, int, int, SynthConfig]) -> str:
    """Render and write one clip; its random stream depends only on (seed, class, group, clip)."""
    out, ci, cls, group, clip, cfg = job
    rng = np.random.default_rng([cfg.seed, ci, group, clip])
    scene = _scene(rng, cfg.size)
    tag = "".join(w.capitalize() for w in cls.split("_"))
    path = Path(out) / cls / f"v_{tag}_g{group:02d}_c{clip:02d}.avi"
    write_video(path, render_clip(cls, rng, scene, cfg.frames), cfg.fps)
    return str(path)


def make_dataset(out: str | Path, cfg: SynthConfig, progress=None, workers: int | None = None) -> list[Path]:
    """Write cfg.classes x cfg.clips_per_class videos to out/<class>/v_<Class>_gNN_cMM.avi.

    `workers` processes render in parallel (default: one per core); every clip seeds its own
    generator, so the files are identical whatever the worker count.
    """
    out = Path(out)
    jobs = []
    for ci, cls in enumerate(CLASSES[: cfg.classes]):
        (out / cls).mkdir(parents=True, exist_ok=True)
        for j in range(cfg.clips_per_class):
            jobs.append((str(out), ci, cls, j // GROUP_SIZE + 1, j % GROUP_SIZE + 1, cfg))
    workers = min(workers or os.cpu_count() or 1, len(jobs))
    paths = []
    if workers <= 1:
        results = map(_write_one, jobs)
    else:
        # spawn, not fork: the caller may hold threads (OpenCV, a progress bar) that fork would copy mid-state.
        pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
        results = pool.map(_write_one, jobs, chunksize=8)
    try:
        for path in results:
            paths.append(Path(path))
            if progress:
                progress()
    finally:
        if workers > 1:
            pool.shutdown(cancel_futures=True)
    return paths


def write_segments(path: str | Path, segments: list[tuple[str, list[np.ndarray]]], fps: float) -> list[dict]:
    """Write the segments' frames one after another as one video; returns the known segments
    [{"label", "start", "end"}] in seconds (a frame i shows at i / fps, as the readers time it)."""
    path, known, frames = Path(path), [], []
    for label, seg in segments:
        known.append({"label": label, "start": len(frames) / fps, "end": (len(frames) + len(seg)) / fps})
        frames += seg
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames, fps)
    return known


def make_long_video(
    path: str | Path, classes: list[str], *, seconds: float = 4.0, size: int = 128, fps: float = 30.0, seed: int = 0
) -> list[dict]:
    """One video of `seconds` of each class in turn (a new scene per segment, like cuts between shots),
    for timelines and events; writes the known segments beside it as PATH.segments.json and returns them."""
    from lrcn.core.atomic import write_json

    unknown = [c for c in classes if c not in CLASSES]
    if unknown or not classes:
        raise ValueError(f"classes must be among {', '.join(CLASSES)}, got {', '.join(unknown) or 'none'}")
    frames = int(round(seconds * fps))
    if frames < 2:
        raise ValueError(f"seconds must give at least 2 frames per segment at {fps:g} fps, got {seconds}")
    segments = []
    for i, cls in enumerate(classes):
        rng = np.random.default_rng([seed, 1000 + i, CLASSES.index(cls)])
        segments.append((cls, render_clip(cls, rng, _scene(rng, size), frames)))
    known = write_segments(path, segments, fps)
    write_json(Path(path).with_name(Path(path).name + ".segments.json"), known)
    return known
