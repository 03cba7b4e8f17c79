"""Event clips: CPU per clip when copying the source's H.264 packets against encoding the frames.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/event_clip_copy.py [--size 640x360] [--fps 25] [--clip-s 8]
        [--sample-fps 25 10] [--repeats 7] [--workdir artifacts/bench/clip_copy]

Writes an H.264 MP4 (PyAV's libx264, a keyframe a second, a moving textured pattern with sensor noise so the
encoder has real work), reads it with the runtime's `PacketSource` (what vc-run --media uses for rtsp:// and
.mp4 sources), and times, per clip of `--clip-s` seconds (pre_s 3 + event + post_s 3 by default), the
process CPU (all threads) of what event media's writer does for one clip:

- copy: `packets.remux_mp4` over the clip's packets (every source frame, no decode, no encode);
- encode: `event_media._encode_mp4` over the clip's processed frames kept as JPEG (at each `--sample-fps`:
  vc-run keeps the frames the stream processed), decode of the JPEGs and libx264 veryfast/crf 26 included.

Also printed: the per-frame JPEG cost that event media pays on every processed frame (both paths keep it
today: snapshots and the encode fallback). Median and min over `--repeats`; the load average is printed
before and after (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import cv2
import numpy as np


def make_video(path: Path, w: int, h: int, fps: int, seconds: float) -> None:
    import av

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (h * 2, w * 2, 3), dtype=np.uint8)
    base = cv2.GaussianBlur(base, (0, 0), 3)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.options = {"g": str(fps), "preset": "veryfast", "crf": "23", "bf": "0"}
        for i in range(int(seconds * fps)):
            x, y = (i * 3) % w, (i * 2) % h
            img = base[y : y + h, x : x + w].copy()
            img = cv2.add(img, rng.integers(0, 6, img.shape, dtype=np.uint8))
            for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                out.mux(pkt)
        for pkt in vs.encode(None):
            out.mux(pkt)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="640x360")
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--clip-s", type=float, default=8.0)
    ap.add_argument("--sample-fps", type=float, nargs="+", default=[25.0, 10.0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--workdir", default="artifacts/bench/clip_copy")
    a = ap.parse_args()
    import av

    from lrcn.runtime.event_media import JPEG_QUALITY, _encode_mp4
    from lrcn.runtime.packet_source import PacketSource
    from lrcn.runtime.packets import RingConfig, remux_mp4

    w, h = (int(v) for v in a.size.split("x"))
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    video = work / f"src_{w}x{h}_{a.fps}.mp4"
    if not video.is_file():
        make_video(video, w, h, a.fps, a.clip_s + 2)
    print(f"load average at start: {os.getloadavg()}; {os.cpu_count()} CPUs")
    src = PacketSource(str(video), RingConfig(seconds=a.clip_s + 2, max_mb=256))
    frames = [(f.t, f.image) for f in src.frames()]
    src.close()
    packets = src.packets.from_keyframe(0.0)
    packets = [p for p in packets if p.t < a.clip_s - 1e-6]
    print(f"clip: {a.clip_s:g} s of {w}x{h} H.264 at {a.fps} fps: {len(packets)} packets, "
          f"{sum(len(p.data) for p in packets) / 1e3:.0f} kB")  # fmt: skip
    clip = [(t, img) for t, img in frames if t < a.clip_s - 1e-6]

    def cpu(fn) -> list[float]:
        out = []
        for _ in range(a.repeats):
            c0 = time.process_time()
            fn()
            out.append((time.process_time() - c0) * 1e3)
        return out

    def line(name: str, ms: list[float]) -> None:
        print(f"{name:<44} median {statistics.median(ms):8.1f} ms CPU, min {min(ms):8.1f} ms  (n={len(ms)})")

    line("copy (remux, every frame)", cpu(lambda: remux_mp4(av, work / "copy.mp4", packets)))
    for sfps in a.sample_fps:
        step = max(1, round(a.fps / sfps))
        kept = clip[::step]
        jpegs: list[tuple[float, bytes]] = []

        def jpeg_all(kept=kept, jpegs=jpegs) -> None:
            jpegs.clear()
            for t, img in kept:
                jpegs.append((t, cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])[1].tobytes()))

        jpeg_ms = cpu(jpeg_all)
        line(
            f"encode ({len(kept)} frames at {a.fps / step:g} fps)",
            cpu(lambda j=jpegs: _encode_mp4(av, work / "enc.mp4", j)),
        )
        line(f"  JPEG of the {len(kept)} frames during the run", jpeg_ms)
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
