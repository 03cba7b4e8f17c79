"""The batched streaming engine: every stream's state in one place, every model call batched across streams.

One `StreamState` per stream holds all that a stream remembers between frames: the previous
frame for the motion modalities (`preprocess.FrameInput`), the ring of the last T encoder
features (window mode) or the LSTM (h, c) and the count of frames seen (stateful mode), the
last probabilities for smoothing, and the counters. `BatchEngine.run(states, inputs)` advances any set of streams by
one frame each with at most two model calls, whatever the number of streams:

- window mode: the new frames of all streams through the encoder part as ONE batch, then the
  head part over the T cached features of every stream whose window is full, as ONE batch;
- stateful mode: the step part ONCE, with the streams' (h, c) stacked on the batch axis.

Motion gating (window mode, rgb and diff input; `runtime.motion`): a row marked gated skips the
encoder and takes the feature that is exact to reuse: rgb, the stream's last feature (its view is
the frame the CNN saw last); diff, the feature of a zero difference (computed once per engine and
input shape). The head still runs over every frame's feature, so the LSTM steps in time as ungated.

A zoomed model's stream (`preprocess.FrameInput` with zoom) gives its whole window (T, C, H, W)
when its motion box moved: its T frames join the encoder batch and replace its features (none
is kept from one box to the next); while the box stays it gives one frame, as any stream.

A stream's result depends only on its own frames: each row of a batch is computed on its own
by the encoder, head and step graphs (no batch-wide statistics at inference), so which other
streams share a call never changes it beyond float rounding (tests check 1e-5).

The same engine serves one stream (`vc-run --stream`, `clf.stream`), many streams
(`runtime.scheduler`), and the export's streaming parity gate (`clip_probs`: B clips as B
streams, T ticks), so the gate certifies the code users run.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np

from lrcn.core.errors import ModelError
from lrcn.runtime import contract as K
from lrcn.runtime.preprocess import FrameInput, PreprocessSpec

LATENCY_KEPT = 10_000
"""Latencies kept per stream for its percentiles (the most recent ones)."""


@dataclass
class StreamState:
    """Everything one stream carries from frame to frame."""

    frame_input: FrameInput
    feats: deque
    """Window mode: the last T encoder features (oldest first)."""
    smooth: deque
    """The last `smooth` raw probability vectors."""
    h: np.ndarray | None = None
    c: np.ndarray | None = None
    seen: int = 0
    """Frames that went into the model (the diff priming frame does not)."""
    processed: int = 0
    predictions: int = 0
    gated: int = 0
    """Frames whose encoder call was skipped (motion gating): a feature was reused."""
    latencies_ms: deque = field(default_factory=lambda: deque(maxlen=LATENCY_KEPT))

    def smoothed(self, raw: np.ndarray) -> np.ndarray:
        self.smooth.append(raw)
        return np.mean(self.smooth, axis=0) if len(self.smooth) > 1 else raw


class BatchEngine:
    """Advances many streams a frame each with batched calls of the streaming parts.

    Parts are anything with `run(output_names, feeds)` (a `model.Part` or an onnxruntime
    session). Window mode needs encoder and head; stateful mode needs step, layers, hidden.
    """

    def __init__(self, *, num_frames: int, encoder=None, head=None, step=None, layers: int = 1, hidden: int = 0):
        if step is None and (encoder is None or head is None):
            raise ValueError("BatchEngine needs the encoder and head parts, or the step part")
        self.num_frames, self.encoder, self.head, self.step = num_frames, encoder, head, step
        self.layers, self.hidden = layers, hidden
        self.encoder_calls = 0
        self.encoded = 0
        """Encoder calls and frames through the encoder so far (motion gating's saving shows here)."""
        self._zero: dict[tuple[int, ...], np.ndarray] = {}

    @classmethod
    def for_model(cls, model, stateful: bool, num_frames: int | None = None) -> BatchEngine:
        """The engine over a runtime `LrcnModel`'s parts (loads them; ModelError when missing or,
        stateful, when the model zooms: its box is a whole window's)."""
        meta, t = model.meta, num_frames or model.meta.num_frames
        if stateful and meta.preprocess.zoom != "none":
            raise ModelError(
                f"{getattr(model, 'path', 'model')}: the model zooms into each window's motion (zoom {meta.preprocess.zoom}); "
                "stateful mode steps one frame at a time: use window mode"
            )
        if stateful:
            return cls(num_frames=t, step=model.part("step"), layers=meta.lstm_layers, hidden=meta.hidden_size)
        return cls(num_frames=t, encoder=model.part("encoder"), head=model.part("head"))

    @property
    def stateful(self) -> bool:
        return self.step is not None

    def new_state(self, spec: PreprocessSpec, smooth: int = 1) -> StreamState:
        st = StreamState(FrameInput(spec, self.num_frames), deque(maxlen=self.num_frames), deque(maxlen=smooth))
        if self.stateful:
            st.h = np.zeros((self.layers, 1, self.hidden), np.float32)
            st.c = np.zeros_like(st.h)
        return st

    def run(
        self, states: list[StreamState], inputs: list[np.ndarray | None], gated: list[bool] | None = None
    ) -> list[np.ndarray | None]:
        """One frame's model input (C, H, W) per state, a zoomed stream's whole window (T, C, H, W),
        or None (a priming frame: nothing to run).

        `gated[i]`: stream i's view did not change (`motion.MotionGate`); window mode reuses a
        feature for it instead of running the encoder (see the module docstring). ValueError in
        stateful mode (the fused step part has no encoder to skip).

        Returns each stream's raw probabilities (K,) once its window is full (or, stateful, once
        T frames went in), else None.
        """
        given = {i: x for i, x in enumerate(inputs) if x is not None}
        live = list(given)
        out: list[np.ndarray | None] = [None] * len(states)
        if not live:
            return out
        if self.stateful:
            if any(given[i].ndim == 4 for i in live):
                raise ValueError("a zoomed model's window input needs window mode, not the stateful step part")
            if gated is not None and any(gated):
                raise ValueError("motion gating needs window mode: the stateful step part has no encoder to skip")
            x = np.stack([given[i] for i in live]).astype(np.float32, copy=False)
            return self._step(states, live, x, out)
        reused = {i: f for i in live if gated and gated[i] and (f := self._reuse(states[i], given[i])) is not None}
        encode = [i for i in live if i not in reused]
        feats: dict[int, np.ndarray] = dict(reused)
        if encode:
            x = np.concatenate([given[i] if given[i].ndim == 4 else given[i][None] for i in encode])
            enc = self._encode(x.astype(np.float32, copy=False))
            row = 0
            for i in encode:
                n = len(given[i]) if given[i].ndim == 4 else 1
                feats[i] = enc[row : row + n].copy() if given[i].ndim == 4 else enc[row].copy()
                row += n
        full = []
        for i in live:
            st = states[i]
            if given[i].ndim == 4:  # a zoomed window: all T features are new
                st.feats.clear()
                st.feats.extend(feats[i])
            else:
                st.feats.append(feats[i])
            st.seen += 1
            st.gated += i in reused
            if len(st.feats) == self.num_frames:
                full.append(i)
        if full:
            windows = np.stack([np.stack(states[i].feats) for i in full])
            probs = self.head.run([K.OUTPUT_PROBS], {K.FEATURES: windows})[0]
            for row, i in enumerate(full):
                out[i] = probs[row]
        return out

    def _encode(self, x: np.ndarray) -> np.ndarray:
        self.encoder_calls += 1
        self.encoded += len(x)
        return self.encoder.run([K.FEATURES], {K.INPUT_FRAME: x})[0]

    def _reuse(self, st: StreamState, x: np.ndarray) -> np.ndarray | None:
        """The exact feature for a gated frame, or None (nothing to reuse yet: encode it)."""
        modality = st.frame_input.spec.modality
        if modality == "rgb":
            return st.feats[-1] if st.feats else None
        if modality == "diff":
            key = tuple(x.shape)
            if key not in self._zero:  # the normalised difference of two equal frames is exactly zero
                self._zero[key] = self._encode(np.zeros((1, *key), np.float32))[0].copy()
            return self._zero[key]
        return None

    def _step(self, states, live, x, out):
        h = np.concatenate([states[i].h for i in live], axis=1)
        c = np.concatenate([states[i].c for i in live], axis=1)
        probs, h, c = self.step.run(
            [K.OUTPUT_PROBS, K.STATE_H_OUT, K.STATE_C_OUT], {K.INPUT_FRAME: x, K.STATE_H: h, K.STATE_C: c}
        )
        for row, i in enumerate(live):
            st = states[i]
            st.h, st.c = h[:, row : row + 1].copy(), c[:, row : row + 1].copy()
            st.seen += 1
            if st.seen >= self.num_frames:
                out[i] = probs[row]
        return out


def clip_probs(engine: BatchEngine, x: np.ndarray, spec: PreprocessSpec | None = None) -> np.ndarray:
    """Model inputs (B, T, C, S, S) -> probs (B, K): B streams fed their T frames, a tick per frame.

    The engine's window must be T (window mode: the head over all T features; stateful: the
    state after the T-th step from zero). What the export's streaming parity gate runs.
    """
    b, t = x.shape[:2]
    if engine.num_frames != t:
        raise ValueError(f"the engine's window is {engine.num_frames} frames; the clips have {t}")
    states = [engine.new_state(spec or PreprocessSpec()) for _ in range(b)]
    out: list = [None] * b
    for i in range(t):
        out = engine.run(states, [np.ascontiguousarray(x[j, i]) for j in range(b)])
    return np.stack(out)


class OneStream:
    """One stream's model calls on the engine: model input (C, H, W) or None -> raw probs or None.

    For callers that drive a single stream frame by frame themselves (vc-bench's per-frame cost).
    """

    def __init__(self, engine: BatchEngine, spec: PreprocessSpec):
        self.engine, self.state = engine, engine.new_state(spec)

    def __call__(self, x: np.ndarray | None) -> np.ndarray | None:
        return self.engine.run([self.state], [x])[0]
