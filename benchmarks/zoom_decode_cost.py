"""What a zoom geometry's decode size costs: decoding a video for a zoomed model, first geometry against today's.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/zoom_decode_cost.py VIDEO [VIDEO ...] [--size 64] [--repeats 9]

Clip mode decodes a whole video at `roi.work_size` before it cuts the clip (`video.decode_video`);
that decode is most of a zoomed model's clip time. The two geometries alternate, `--repeats`
times per video, and the medians print with the frames kept and the load average around them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from lrcn.runtime.roi import FIRST_GEOMETRY, ZoomGeometry
from lrcn.runtime.video import decode_video


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("videos", nargs="+")
    ap.add_argument("--size", type=int, default=64, help="the model's side (img_size)")
    ap.add_argument("--repeats", type=int, default=9)
    a = ap.parse_args()
    geometries = {
        f"first ({FIRST_GEOMETRY.decode}x)": FIRST_GEOMETRY,
        f"today ({ZoomGeometry().decode}x)": ZoomGeometry(),
    }
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    for video in a.videos:
        ms: dict[str, list[float]] = {name: [] for name in geometries}
        kept = {}
        for _ in range(a.repeats):
            for name, geometry in geometries.items():
                t0 = time.perf_counter()
                decoded = decode_video(video, a.size, zoom=geometry)
                ms[name].append((time.perf_counter() - t0) * 1000)
                kept[name] = len(decoded.frames)
        shown = ", ".join(f"{n} {statistics.median(v):.1f} ms ({kept[n]} frames kept)" for n, v in ms.items())
        print(f"{os.path.basename(video)}: decode at {a.size} px, medians of {a.repeats}: {shown}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
