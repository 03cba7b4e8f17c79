"""Motion gating: encoder calls, CPU time and top-1 agreement, gated against ungated, on two videos.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/motion_gating.py [--model M.onnx] [--family pretrained] [--backbone resnet18]
        [--modality rgb] [--img-size 112] [--frames 8] [--seconds 16] [--fps 15] [--threads 1] [--workdir artifacts/bench/motion]

Writes two videos with OpenCV (320x240, light sensor noise): `mostly_static` (a still textured room;
a shape crosses it in two short bursts) and `busy` (a shape moving all the time). Each runs through
the runtime's stream mode (every frame, window mode) once ungated and once with `--motion` defaults,
and prints: frames, encoder rows (frames through the encoder, counted by the engine), gated frames,
CPU seconds of the process for the run (decode included), and the top-1 agreement of the two runs:
on every prediction, and on the predictions whose window holds a frame of a moving part.

Without --model it exports a random-weight model of `--family` (vc-export's own writer, no parity
gate: random weights make it meaningless; torch needed for that step only). Random weights give
near-uniform probabilities, which makes top-1 agreement a harsher test than a trained model would.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict
from pathlib import Path

import cv2
import numpy as np


def export_random(family: str, backbone: str, img_size: int, frames: int, modality: str, folder: Path) -> Path:
    import torch

    import lrcn
    from lrcn.export.pipeline import export_model
    from lrcn.models.config import ModelConfig
    from lrcn.models.registry import build_model
    from lrcn.train.config import DataConfig, preprocess_spec

    target = folder / f"{family}-{backbone}-S{img_size}-T{frames}-{modality}.onnx"
    if target.is_file():
        return target
    mc = ModelConfig(name=family, img_size=img_size, num_classes=10, backbone=backbone)
    torch.manual_seed(0)
    model = build_model(mc, load_weights=False).eval()
    spec = preprocess_spec(mc, DataConfig(num_frames=frames, img_size=img_size, modality=modality))
    config = {
        "model": asdict(mc),
        "class_names": [f"class{i}" for i in range(mc.num_classes)],
        "lrcn_version": lrcn.__version__,
        "preprocess": {**spec.to_dict(), "num_frames": frames, "sampled_frames": frames, "sample_fps": None},
    }
    folder.mkdir(parents=True, exist_ok=True)
    export_model(model, config, target, checkpoint_sha256="random-seed0", gate=False)
    return target


def room(rng: np.random.Generator, w: int = 320, h: int = 240) -> np.ndarray:
    """A still textured view: gradient walls, a few boxes."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx * 0.5) % 256, (yy * 0.7) % 256, ((xx + yy) * 0.3) % 256], axis=-1).astype(np.float32)
    for _ in range(6):
        x, y = rng.integers(0, w - 60), rng.integers(0, h - 60)
        img[y : y + rng.integers(20, 60), x : x + rng.integers(20, 60)] = rng.integers(0, 256, 3)
    return img


def write_video(path: Path, seconds: float, fps: float, moving, seed: int = 0) -> list[bool]:
    """MJPG AVI; `moving(t)` says where the shape is at t (None: no shape). Returns, per frame, whether it moved."""
    rng = np.random.default_rng(seed)
    base = room(rng)
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (base.shape[1], base.shape[0]))
    moved = []
    for i in range(int(seconds * fps)):
        t = i / fps
        img = base.copy()
        pos = moving(t)
        if pos is not None:
            cv2.circle(img, (int(pos[0]), int(pos[1])), 28, (30, 200, 240), -1)
        img += rng.normal(0, 2.0, img.shape)  # sensor noise: frames of a still view are never bit-identical
        wr.write(np.clip(img, 0, 255).astype(np.uint8))
        moved.append(pos is not None)
    wr.release()
    return moved


def bursts(t: float):
    """Two crossings: 4-6.5 s left to right, 11-12.5 s right to left."""
    for start, end, x0, x1 in ((4.0, 6.5, 20, 300), (11.0, 12.5, 300, 20)):
        if start <= t < end:
            return x0 + (x1 - x0) * (t - start) / (end - start), 120 + 40 * np.sin(6 * t)
    return None


def busy(t: float):
    return 160 + 130 * np.sin(1.3 * t), 120 + 90 * np.sin(2.1 * t)


def run(clf, video: Path, motion) -> dict:
    from lrcn.runtime.stream import StreamConfig

    multi = clf.streams({"cam": str(video)}, StreamConfig(sample_fps=0, motion=motion))
    c0, w0 = time.process_time(), time.perf_counter()
    with multi:
        preds = [(p.source_index, p.label, p.probs) for p in multi if p.ready]
        stats = multi.stats(0)
    return {
        "cpu_s": time.process_time() - c0,
        "wall_s": time.perf_counter() - w0,
        "frames": stats.processed,
        "encoded": multi.engine.encoded,
        "gated": stats.gated or 0,
        "preds": preds,
    }


def compare(name: str, clf, video: Path, moved: list[bool], motion, t: int) -> None:
    plain, gated = run(clf, video, None), run(clf, video, motion)
    assert [p[0] for p in plain["preds"]] == [p[0] for p in gated["preds"]]
    same = [a[1] == b[1] for a, b in zip(plain["preds"], gated["preds"])]
    window_moves = [any(moved[max(0, i - t + 1) : i + 1]) for i, _, _ in plain["preds"]]
    on_moving = [s for s, m in zip(same, window_moves) if m]
    diff = max(float(np.abs(a[2] - b[2]).max()) for a, b in zip(plain["preds"], gated["preds"]))
    print(f"{name}: {plain['frames']} frames, {sum(moved)} with motion")
    for label, r in (("ungated", plain), ("gated", gated)):
        print(
            f"  {label:8s} encoder rows {r['encoded']:5d}  gated {r['gated']:5d}  "
            f"cpu {r['cpu_s']:6.2f} s  wall {r['wall_s']:6.2f} s"
        )
    print(
        f"  encoder rows {plain['encoded'] / max(1, gated['encoded']):.2f}x fewer, "
        f"cpu {plain['cpu_s'] / max(1e-9, gated['cpu_s']):.2f}x less; top-1 agreement "
        f"{sum(same)}/{len(same)} overall, {sum(on_moving)}/{len(on_moving)} on windows with motion; "
        f"max |dprob| {diff:.4f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model")
    ap.add_argument("--family", default="pretrained")
    ap.add_argument("--backbone", default="resnet18", help="for the pretrained family (no download: random weights)")
    ap.add_argument("--modality", default="rgb", help="rgb or diff (the random model's input)")
    ap.add_argument("--img-size", type=int, default=112)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=16.0)
    ap.add_argument("--fps", type=float, default=15.0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workdir", default="artifacts/bench/motion")
    a = ap.parse_args()
    from lrcn.runtime import VideoClassifier
    from lrcn.runtime.motion import MotionConfig

    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    model = Path(a.model) if a.model else export_random(a.family, a.backbone, a.img_size, a.frames, a.modality, work)
    clf = VideoClassifier(str(model), device="cpu", threads=a.threads)
    t = clf.meta.num_frames
    print(f"model {model} (T {t}, {clf.meta.preprocess.img_size}px, {clf.meta.preprocess.modality}); motion defaults")
    videos = {
        "mostly_static": (work / "mostly_static.avi", bursts),
        "busy": (work / "busy.avi", busy),
    }
    for name, (path, moving) in videos.items():
        moved = write_video(path, a.seconds, a.fps, moving)
        compare(name, clf, path, moved, MotionConfig(), t)


if __name__ == "__main__":
    main()
