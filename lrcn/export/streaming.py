"""Streaming parity: the parts the runtime's stream mode runs must reproduce the full model.

- window: every frame encoded once on its own (encoder, batch = streams), the head over the
  T cached features -> the full model's probs on those T frames.
- step: frames fed one by one from the zero state, carrying (h, c) -> after the last frame,
  the full model's probs on the whole clip.
Inputs are per-frame modality tensors (diffs already taken), as the runtime feeds them.
"""

from __future__ import annotations

import numpy as np

from lrcn.runtime import contract as K


def window_predictor(encoder, head):
    """(B, T, C, S, S) -> probs, one encoder call per time step, then one head call."""

    def predict(x: np.ndarray) -> np.ndarray:
        feats = [encoder.run([K.FEATURES], {K.INPUT_FRAME: np.ascontiguousarray(x[:, i])})[0]
                 for i in range(x.shape[1])]
        return head.run([K.OUTPUT_PROBS], {K.FEATURES: np.stack(feats, axis=1)})[0]

    return predict


def step_predictor(step, layers: int, hidden: int):
    """(B, T, C, S, S) -> probs after the last of T single-frame steps from the zero state."""

    def predict(x: np.ndarray) -> np.ndarray:
        b = x.shape[0]
        h = np.zeros((layers, b, hidden), np.float32)
        c = np.zeros_like(h)
        probs = None
        for i in range(x.shape[1]):
            probs, h, c = step.run([K.OUTPUT_PROBS, K.STATE_H_OUT, K.STATE_C_OUT],
                                   {K.INPUT_FRAME: np.ascontiguousarray(x[:, i]), K.STATE_H: h, K.STATE_C: c})
        return probs

    return predict
