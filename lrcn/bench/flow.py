"""Optical flow: the cost per new frame of the flow modalities' motion step, at 64 and 128 px.

What stream mode adds per frame for `--input flow` / `rgb+flow`: the frame to grey and one DIS
flow against the previous one (`lrcn.runtime.preprocess.FrameInput` on a flow spec, the code
streams run), on the bench's source video resized as the runtime resizes it. Beside it, side by
side, the whole per-frame input of `--input adiff` (normalise, grey, DIS, the median shift and the
warp), which includes the same DIS call. Model-independent, so measured once per bench. OpenCV
runs with its own thread count (reported).
"""

from __future__ import annotations

import cv2

from lrcn.bench.config import BenchConfig
from lrcn.bench.timing import Side, alternate
from lrcn.runtime.flow import FLOW_PRESET, FLOW_RANGE
from lrcn.runtime.preprocess import FrameInput, PreprocessSpec

SIZES = (64, 128)
PRESETS = {cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST: "ultrafast", cv2.DISOPTICAL_FLOW_PRESET_FAST: "fast"}


def _side(size: int, source, modality: str = "flow") -> Side:
    from lrcn.runtime.video import decode_video

    frames = decode_video(source, size).frames
    step = FrameInput(PreprocessSpec(img_size=size, modality=modality))
    step(frames[0])  # primes the previous frame
    pos = [1]

    def call():
        step(frames[pos[0] % len(frames)])
        pos[0] += 1

    return Side(f"{size}px" if modality == "flow" else f"{modality} {size}px", call)


def measure(cfg: BenchConfig, source, log=print) -> dict:
    sides = [_side(s, source, m) for m in ("flow", "adiff") for s in SIZES]
    res = alternate(sides, rounds=cfg.repeat, block_s=cfg.block_s, max_s=cfg.max_s)
    for v in res.values():
        v["fps"] = round(1e3 / v["median"], 1)
    log("flow: " + ", ".join(f"{k} {v['median']:.3f} ms/frame" for k, v in res.items()))
    return {
        "sizes": {k: v for k, v in res.items() if not k.startswith("adiff")},
        "adiff": {k.removeprefix("adiff "): v for k, v in res.items() if k.startswith("adiff")},
        "preset": PRESETS.get(FLOW_PRESET, str(FLOW_PRESET)),
        "range_px": {f"{s}px": s * FLOW_RANGE for s in SIZES},
        "opencv_threads": cv2.getNumThreads(),
    }
