"""Streaming parity: the parts the runtime's stream mode runs must reproduce the full model.

Both predictors run the runtime's own `engine.BatchEngine` (what `vc-run --stream` and
`clf.stream(s)` run), B clips as B concurrent streams, one tick per time step, so the gate
certifies the code users run, cross-stream batching included:
- window: every frame encoded once (encoder, batch = streams), the head over the T cached
  features -> the full model's probs on those T frames.
- step: frames fed one by one from the zero state, carrying (h, c) -> after the last frame,
  the full model's probs on the whole clip.
Inputs are per-frame modality tensors (diffs already taken), as the runtime feeds them.
"""

from __future__ import annotations

import numpy as np

from lrcn.runtime.engine import BatchEngine, clip_probs


def window_predictor(encoder, head):
    """(B, T, C, S, S) -> probs: the engine in window mode with a window of T."""

    def predict(x: np.ndarray) -> np.ndarray:
        return clip_probs(BatchEngine(num_frames=x.shape[1], encoder=encoder, head=head), x)

    return predict


def step_predictor(step, layers: int, hidden: int):
    """(B, T, C, S, S) -> probs after the last of T single-frame steps from the zero state."""

    def predict(x: np.ndarray) -> np.ndarray:
        return clip_probs(BatchEngine(num_frames=x.shape[1], step=step, layers=layers, hidden=hidden), x)

    return predict
