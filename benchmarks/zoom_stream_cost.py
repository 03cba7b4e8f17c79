"""What the motion zoom costs where a model runs: per stream frame and per clip, plain against zoomed.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/zoom_stream_cost.py --model plain.onnx --model zoom.onnx \\
        --video clip.avi [--repeats 5] [--threads 1] [--also first]

For each exported model (side by side, the same video, alternating, `--repeats` times), on the CPU:
- stream: `clf.stream(video, sample_fps=0)`, every frame fed; the median of `ms` over the frames that
  predicted (the inference loop's time for the frame: preprocessing in the loop and the model calls;
  a plain model encodes one frame, a zoomed one finds its box and encodes one frame or, when the
  box moved, its whole window). Also, for a zoomed model, on how many of those frames the motion box moved (whole window cut and
  encoded again, T encoder passes) rather than stayed (one pass);
- clip: `clf.predict(video)`, the median total ms, and of it decode + preprocessing (a zoomed
  model decodes at its geometry's `decode` times the side and cuts the clip).
`--also GEOMETRY` (repeatable: `first`, or `margin=0.15,grid=16,max_zoom=4,decode=8`) also times
each zoomed model as if cut with that geometry (the same weights: its scores mean nothing then,
only its cost), so geometries compare on one model.
Prints the medians over repeats and the load average before and after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics

from lrcn.runtime import VideoClassifier
from lrcn.runtime.preprocess import FrameInput
from lrcn.runtime.roi import FIRST_GEOMETRY, ZoomGeometry, work_size
from lrcn.runtime.video import decode_video


def stream_ms(clf: VideoClassifier, video: str) -> float:
    ms = [p.ms for p in clf.stream(video, sample_fps=0) if p.ready]
    return statistics.median(ms)


def recuts(clf: VideoClassifier, video: str) -> str:
    """How many stream frames cut their whole window again (the motion box moved), of those that predict."""
    pre = clf.meta.preprocess
    if pre.zoomed is None:
        return ""
    step = FrameInput(pre, clf.meta.num_frames)
    frames = decode_video(video, work_size(pre.img_size, pre.zoomed), max_keep=100_000).frames
    shapes = [x.ndim for x in (step(f) for f in frames) if x is not None]
    return f"; whole window cut again on {shapes.count(4)} of {len(shapes)} frames"


def geometry_from(text: str) -> ZoomGeometry:
    """`first`, or `key=value,...` over ZoomGeometry's fields (the others keep today's defaults)."""
    if text == "first":
        return FIRST_GEOMETRY
    kinds = {"margin": float, "grid": int, "max_zoom": float, "decode": int}
    pairs = dict(part.split("=", 1) for part in text.split(","))
    return ZoomGeometry(**{k: kinds[k](v) for k, v in pairs.items()})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True, help="an exported .onnx (give two or more)")
    ap.add_argument("--video", required=True)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    ap.add_argument("--also", action="append", default=[], help="also time zoomed models with this geometry")
    a = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    clfs = {m: VideoClassifier(m, device="cpu", threads=a.threads) for m in a.model}
    for text in a.also:
        geometry = geometry_from(text)
        for m in a.model:
            if clfs[m].meta.preprocess.zoomed not in (None, geometry):
                other = VideoClassifier(m, device="cpu", threads=a.threads)
                for kind in ("encoder", "head"):  # loaded now: a part checks its metadata against the model's
                    other.model.part(kind)
                other.meta.preprocess = dataclasses.replace(other.meta.preprocess, zoom_geometry=geometry)
                clfs[f"{m} as {text}"] = other
    stream: dict[str, list[float]] = {m: [] for m in clfs}
    clip: dict[str, list[float]] = {m: [] for m in clfs}
    prep: dict[str, list[float]] = {m: [] for m in clfs}
    for _ in range(a.repeats):
        for m, clf in clfs.items():
            stream[m].append(stream_ms(clf, a.video))
            t = clf.predict(a.video).timings
            clip[m].append(t["total"])
            prep[m].append(t["decode"] + t["preprocess"])
    for m, clf in clfs.items():
        pre = clf.meta.preprocess
        print(
            f"{m}: zoom {pre.zoom} {pre.zoomed or ''}, {pre.modality} {pre.img_size} px, T {clf.meta.num_frames}: "
            f"stream {statistics.median(stream[m]):.2f} ms/frame, clip {statistics.median(clip[m]):.1f} ms "
            f"(decode + preprocess {statistics.median(prep[m]):.1f}) "
            f"(medians of {a.repeats}){recuts(clf, a.video)}"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
