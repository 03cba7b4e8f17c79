"""b. Streaming: the cost of one new frame, three ways.

- eager full-window re-run (the lab's way): the whole T-frame window through the PyTorch
  model again for every new frame;
- onnxruntime window (the runtime's exact sliding window): the new frame once through the
  encoder part, the head part over the T cached features (`lrcn.runtime.stream.WindowHead`);
- onnxruntime step (unidirectional models): one encoder pass and one LSTM step carrying the
  state (`lrcn.runtime.stream.StateStep`).
Every side takes the same decoded frames and the runtime's per-frame preprocessing
(`FrameInput`), so the figure is preprocessing plus inference per frame; decoding is in e2e.
"""

from __future__ import annotations

from collections import deque

import numpy as np
import torch

from lrcn.bench.clip import torch_device
from lrcn.bench.config import BenchConfig
from lrcn.bench.labels import label
from lrcn.bench.timing import Side, alternate, ratio
from lrcn.runtime.session import SessionConfig


class _Frames:
    """Cycles through resized RGB frames; each side keeps its own position."""

    def __init__(self, frames: np.ndarray):
        self.frames, self.i = frames, 0

    def next(self) -> np.ndarray:
        f = self.frames[self.i % len(self.frames)]
        self.i += 1
        return f


class EagerWindow:
    """The lab's way: keep the last T inputs, re-run the full PyTorch model on them per frame."""

    def __init__(self, model, num_frames: int, device: torch.device):
        self.model, self.device = model.to(device), device
        self.window: deque[torch.Tensor] = deque(maxlen=num_frames)

    def __call__(self, x: np.ndarray):
        self.window.append(torch.from_numpy(x).to(self.device))
        if len(self.window) < self.window.maxlen:
            return None
        with torch.inference_mode():
            probs = torch.softmax(self.model(torch.stack(tuple(self.window))[None]), dim=-1)[0]
        return probs.cpu().numpy()


def _side(name: str, engine, frames: np.ndarray, spec, num_frames: int) -> Side:
    from lrcn.runtime.stream import FrameInput

    src, prep = _Frames(frames), FrameInput(spec)

    def call():
        x = prep(src.next())
        return engine(x) if x is not None else None

    for _ in range(num_frames + spec.extra_frames):  # fill the window: every timed frame makes a prediction
        call()
    return Side(name, call)


def measure(subject, cfg: BenchConfig, frames: np.ndarray, log=print) -> dict:
    """ms per new frame and the sustainable fps of each way; how many times cheaper than eager."""
    from lrcn.runtime.model import LrcnModel
    from lrcn.runtime.stream import StateStep, WindowHead

    t, spec = subject.num_frames, subject.spec
    model = LrcnModel(subject.files["full"], SessionConfig(device=cfg.device, threads=cfg.threads, spinning=False))
    sides = [
        _side("eager_rerun", EagerWindow(subject.model, t, torch_device(cfg)), frames, spec, t),
        _side("window", WindowHead(model, t), frames, spec, t),
    ]
    if "step" in subject.files:
        sides.append(_side("step", StateStep(model, t), frames, spec, t))
    if "int8_encoder" in subject.files:  # the int8 variant lists its int8 parts, as vc-export writes them
        int8 = LrcnModel(subject.files["int8"], SessionConfig(device=cfg.device, threads=cfg.threads, spinning=False))
        sides.append(_side("window_int8", WindowHead(int8, t), frames, spec, t))
        if "int8_step" in subject.files:
            sides.append(_side("step_int8", StateStep(int8, t), frames, spec, t))
    log(f"  streaming: {', '.join(label('stream', s.name) for s in sides)}")
    timings = alternate(sides, rounds=cfg.repeat, block_s=cfg.block_s, max_s=cfg.max_s)
    for s in sides:
        timings[s.name]["fps"] = round(1000.0 / timings[s.name]["median"], 2)
    return {
        "window": t,
        "sides": timings,
        "cheaper_than_eager": {s.name: ratio(sides[0], s) for s in sides[1:]},
        "step_absent": None if "step" in subject.files else subject.model.cfg.step_absent,
    }
