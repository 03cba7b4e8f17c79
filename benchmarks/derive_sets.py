"""Derive dev sets unlike UT-Interaction from it, with no download, so a search is not tuned to one set.

    python benchmarks/derive_sets.py --src ../shared/data/ut-interaction --out artifacts/data

writes, each in the root/<class>/<video> layout with UT's file names (so its groups, the gNN of
v_<Class>_gNN_cMM, are kept):

- `far`: each frame shrunk into a canvas of the original size, so that people, about 0.8 of
  UT's frame height, are 1/6 to 1/4 of it (a seeded size and place per clip), on a flat
  background of the first frame's median colour; then mild Gaussian noise (sd 3 grey levels)
  and JPEG re-encoding (quality 40) of every frame, as a ceiling camera's wide view.
- `far-clean` and `noisy`: far's two parts one at a time, to tell which of them costs accuracy:
  far-clean is far without the noise and JPEG (same sizes and places), noisy is UT with them and
  no shrink. `far-cut` is far-clean cut to the shrunk clip (people at far's size, the view a
  perfect zoom box would give).
- `far-busy`: far (the same draws) with motion that is not the action, as a street camera sees it:
  a vehicle crossing the canvas on a band of rows clear of the people (in view at mid-clip, at a
  seeded size, speed and direction) and a bush swaying in place (a textured patch shifting a few
  pixels back and forth); noise and JPEG as far. Its own random draws, so far's stay as they are.
- `yard`: far-busy as one fixed camera sees it: the people always in the lower 60 % of the frame
  (the yard, below `YARD_TOP`), the road and the bush always in the same place above it (each clip
  its own vehicle). What a region of interest (`vc-train --region 0,0.4,1,1`) is for.
- `pan`: a camera panning across the scene (UT's cameras are still): a view of 3/4 of each side
  travels from one edge of the frame to the other over each clip (a seeded direction and vertical
  drift, a small shake), resized back to the frame's size, so the background moves in every frame.
- `short-pan`: `short`'s frames seen through `pan`'s view, which then travels the width over those
  few frames: a fast pan (about 4 % of the width a frame at 7 frames), as a broadcast follows play.
- `short`: N frames (`--short-frames`, 7 by default like the short held-out set; 9 is 0.3 s at
  UT's 30 fps) cut around the middle of each clip, at the clip's own frame rate.
- `synth` (with `--synth`): the built-in synthetic set, as `vc-data synth DIR --seed 1` makes it
  (2,000 clips; minutes on 2 cores).

A set already complete (its `.done` file) is kept; delete the folder to make it again. Videos are
written to a temporary name and renamed, so a killed run leaves no half-written clip.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PERSON_HEIGHT = 0.8
"""People's height in UT-Interaction as a share of the frame (looked at, not measured per clip)."""
YARD_TOP = 0.4
"""yard: the people's top is at this share of the frame's height or below; the road and bush above it."""
PAN_VIEW = 0.75
"""The panning camera's view as a share of the frame's side; it travels the rest over a clip."""
KINDS = ("far", "short", "far-clean", "noisy", "far-cut", "pan", "short-pan", "far-busy", "yard")
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov")


def read_frames(path: Path) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    return frames, fps


def write_video(path: Path, frames: list[np.ndarray], fps: float) -> None:
    """MJPG .avi through a temporary file, renamed when complete."""
    h, w = frames[0].shape[:2]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{os.getpid()}.avi")
    writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
    try:
        for f in frames:
            writer.write(f)
    finally:
        writer.release()
    os.replace(tmp, path)


def placement(h: int, w: int, rng: np.random.Generator, top: float = 0.0) -> tuple[int, int, int, int]:
    """A clip's shrunk size and place in an (h, w) frame, (sw, sh, x, y): people 1/6 to 1/4 of its
    height, their top at `top` of the height or below. The first draws of each far-kind clip, so
    far, far-clean, noisy and far-cut agree."""
    scale = rng.uniform(1 / 6, 1 / 4) / PERSON_HEIGHT
    sw, sh = max(2, round(w * scale)), max(2, round(h * scale))
    lo = min(round(h * top), h - sh)
    return sw, sh, int(rng.integers(0, w - sw + 1)), int(rng.integers(lo, h - sh + 1))


class Street:
    """What moves in a far-busy canvas besides the people: a vehicle crossing and a bush swaying.

    Drawn once per clip from its own generator; `paint(canvas, t)` draws frame t in place. Both keep
    off the people's rectangle (x, y, sw, sh), so the action itself is never covered. With `yard`,
    the road and the bush are one camera's, the same in every clip: the vehicle's top row at 2 %
    of the height, the bush's corner at (6 %, 20 %), both above YARD_TOP (the vehicle, its size,
    colour, speed and direction still vary by clip)."""

    def __init__(
        self, h: int, w: int, people: tuple[int, int, int, int], n: int, rng: np.random.Generator, yard: bool = False
    ):
        x, y, sw, sh = people
        cw = max(4, round(w * rng.uniform(0.12, 0.2)))
        ch = max(3, round(cw * rng.uniform(0.4, 0.55)))
        car = np.empty((ch, cw, 3), np.uint8)
        car[:] = rng.integers(40, 220, 3)
        car[ch // 6 : ch // 2, cw // 8 : cw - cw // 8] //= 3  # windows
        car[ch - max(1, ch // 5) :, cw // 8 : cw // 8 + max(1, cw // 6)] = 20  # wheels
        car[ch - max(1, ch // 5) :, cw - cw // 8 - max(1, cw // 6) : cw - cw // 8] = 20
        rows = [r for r in range(0, h - ch + 1) if r + ch <= y or r >= y + sh]  # clear of the people
        self.car, self.car_y = car, int(rng.choice(rows)) if rows else 0
        if yard:
            self.car_y = round(h * 0.02)
        speed = (w + cw) / (n * rng.uniform(1.0, 2.0)) * (1 if rng.random() < 0.5 else -1)
        mid = rng.uniform(0.2, 0.8) * w - cw / 2  # its left edge at mid-clip: in view then
        self.car_x0, self.speed = mid - speed * (n - 1) / 2, speed
        s = max(4, round(h * rng.uniform(0.1, 0.16)))
        self.amp, self.period, self.phase = rng.uniform(2, 4), rng.uniform(20, 40), rng.uniform(0, 2 * np.pi)
        pad = int(np.ceil(self.amp)) + 1
        leaves = cv2.GaussianBlur(rng.normal(0, 1, (s + 2 * pad, s + 2 * pad)).astype(np.float32), (0, 0), 1.5)
        leaves = np.clip(90 + 60 * leaves / (leaves.std() + 1e-6), 0, 255)
        self.leaves = np.stack([leaves * 0.5, leaves, leaves * 0.6], axis=-1).astype(np.uint8)  # BGR, green
        self.size, self.pad = s, pad
        self.bush: tuple[int, int] | None = None  # none when no place is clear (tiny frames)
        if yard:
            self.bush = (round(w * 0.06), round(h * 0.2))
        for _ in range(0 if yard else 50):  # a place clear of the people and of the vehicle's band
            bx, by = int(rng.integers(0, w - s + 1)), int(rng.integers(0, h - s + 1))
            clear = bx + s <= x or bx >= x + sw or by + s <= y or by >= y + sh
            if clear and (by + s <= self.car_y or by >= self.car_y + ch):
                self.bush = (bx, by)
                break

    def paint(self, canvas: np.ndarray, t: int) -> None:
        w = canvas.shape[1]
        ch, cw = self.car.shape[:2]
        cx = round(self.car_x0 + self.speed * t)
        lo, hi = max(0, cx), min(w, cx + cw)
        if lo < hi:
            canvas[self.car_y : self.car_y + ch, lo:hi] = self.car[:, lo - cx : hi - cx]
        if self.bush is None:
            return
        dx = round(self.amp * np.sin(2 * np.pi * t / self.period + self.phase))
        bx, by, s, p = *self.bush, self.size, self.pad
        canvas[by : by + s, bx : bx + s] = self.leaves[p : p + s, p + dx : p + dx + s]


def far(
    frames: list[np.ndarray],
    rng: np.random.Generator,
    shrink: bool = True,
    degrade: bool = True,
    street: np.random.Generator | None = None,
    yard: bool = False,
) -> list[np.ndarray]:
    """The clip shrunk so people are 1/6 to 1/4 of the frame height, on a flat still background, then
    noise and JPEG. `shrink`/`degrade` off leave out one part (the random draws stay the same); a
    `street` generator adds `Street`'s vehicle and bush (far-busy); `yard` keeps the people below
    YARD_TOP and the street above it, in one layout for every clip."""
    h, w = frames[0].shape[:2]
    sw, sh, x, y = placement(h, w, rng, YARD_TOP if yard else 0.0)
    scene = Street(h, w, (x, y, sw, sh), len(frames), street, yard) if street is not None else None
    background = np.empty_like(frames[0])  # flat: a blurred copy of the frame would show its people as ghosts
    background[:] = np.median(frames[0].reshape(-1, 3), axis=0).astype(np.uint8)
    out = []
    for t, f in enumerate(frames):
        if shrink:
            canvas = background.copy()
            canvas[y : y + sh, x : x + sw] = cv2.resize(f, (sw, sh), interpolation=cv2.INTER_AREA)
        else:
            canvas = f
        if scene is not None:
            scene.paint(canvas, t)
        if not degrade:
            out.append(canvas)
            continue
        noisy = np.clip(canvas.astype(np.float32) + rng.normal(0, 3, canvas.shape), 0, 255).astype(np.uint8)
        ok, jpg = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, 40])
        out.append(cv2.imdecode(jpg, cv2.IMREAD_COLOR) if ok else noisy)
    return out


def far_cut(frames: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Each frame shrunk as far() shrinks it (the same draw), and nothing around it."""
    sw, sh, _, _ = placement(*frames[0].shape[:2], rng)
    return [cv2.resize(f, (sw, sh), interpolation=cv2.INTER_AREA) for f in frames]


def pan(frames: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """A view of PAN_VIEW of each side that travels the frame's whole width over the clip (left to
    right or back), drifts up or down by up to half the height it could travel, and shakes (sd 1 % of
    the width, clamped to the frame); each view is resized back to the frame's size."""
    h, w = frames[0].shape[:2]
    vw, vh = round(w * PAN_VIEW), round(h * PAN_VIEW)
    rightward = rng.random() < 0.5
    drift = rng.uniform(-0.5, 0.5)
    out = []
    for t, f in enumerate(frames):
        a = t / (len(frames) - 1) if len(frames) > 1 else 0.5
        u = a if rightward else 1 - a
        x = int(np.clip(round(u * (w - vw) + rng.normal(0, 0.01 * w)), 0, w - vw))
        y = int(np.clip(round((0.5 + drift * (a - 0.5)) * (h - vh) + rng.normal(0, 0.01 * w)), 0, h - vh))
        out.append(cv2.resize(f[y : y + vh, x : x + vw], (w, h), interpolation=cv2.INTER_LINEAR))
    return out


def short(frames: list[np.ndarray], n: int) -> list[np.ndarray]:
    """n consecutive frames around the middle of the clip (all of them when it has fewer)."""
    start = max(0, (len(frames) - n) // 2)
    return frames[start : start + n]


def derive(src: Path, out: Path, kind: str, seed: int, short_frames: int) -> int:
    """Write one derived set; returns the number of clips written (0 when it was complete already)."""
    done = out / ".done"
    if done.is_file():
        print(f"{out}: complete already, kept", flush=True)
        return 0
    videos = sorted(p for p in src.glob("*/*") if p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith("."))
    if not videos:
        raise SystemExit(f"{src}: no videos in <class>/<video> folders")
    written = 0
    for i, v in enumerate(videos):
        target = out / v.parent.name / (v.stem + ".avi")
        if target.is_file():
            continue
        frames, fps = read_frames(v)
        if not frames:
            print(f"{v}: no frame decodes, skipped", flush=True)
            continue
        rng = np.random.default_rng([seed, i])
        if kind == "short":
            clip = short(frames, short_frames)
        elif kind == "pan":
            clip = pan(frames, rng)
        elif kind == "short-pan":
            clip = pan(short(frames, short_frames), rng)
        elif kind == "far-cut":
            clip = far_cut(frames, rng)
        elif kind in ("far-busy", "yard"):
            clip = far(frames, rng, street=np.random.default_rng([seed, i, 1]), yard=kind == "yard")
        else:
            clip = far(frames, rng, shrink=kind != "noisy", degrade=kind != "far-clean")
        write_video(target, clip, fps)
        written += 1
    done.write_text(f"derived from {src} ({kind}, seed {seed}, short frames {short_frames})\n")
    print(f"{out}: {written} clips", flush=True)
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default="../shared/data/ut-interaction")
    ap.add_argument("--out", default="artifacts/data")
    ap.add_argument("--sets", default="far,short", help=f"comma list of {', '.join(KINDS)}")
    ap.add_argument("--short-frames", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--synth", action="store_true", help="also write the synthetic set (vc-data synth, seed 1)")
    args = ap.parse_args()
    src, out = Path(args.src), Path(args.out)
    if not src.is_dir():
        raise SystemExit(f"{src}: source folder not found")
    for kind in [k.strip() for k in args.sets.split(",") if k.strip()]:
        if kind not in KINDS:
            raise SystemExit(f"--sets takes {', '.join(KINDS)}, got {kind!r}")
        derive(src, out / kind, kind, args.seed, args.short_frames)
    if args.synth:
        from lrcn.train.synth import SynthConfig, make_dataset

        target = out / "synth"
        if (target / ".done").is_file():
            print(f"{target}: complete already, kept", flush=True)
        else:
            make_dataset(target, SynthConfig(seed=1))
            (target / ".done").write_text("vc-data synth, seed 1\n")
            print(f"{target}: written", flush=True)


if __name__ == "__main__":
    main()
