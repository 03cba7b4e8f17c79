"""The LRCN: per-frame encoder, time folded into batch, then the LSTM head.

Contract: frames (B, T, C, H, W) float32 -> logits (B, num_classes). No softmax in the
training graph (the loss applies it; the exported model adds it).
"""

from __future__ import annotations

import torch
from torch import nn

from lrcn.models.config import ModelConfig
from lrcn.models.head import LSTMHead


class LRCN(nn.Module):
    def __init__(self, cfg: ModelConfig, encoder: nn.Module):
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder
        self.head = LSTMHead(
            cfg.latent_dim,
            cfg.hidden_size,
            cfg.lstm_layers,
            cfg.bidirectional,
            cfg.dropout,
            cfg.num_classes,
            pool=cfg.pool,
        )

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (N, C, H, W) -> features (N, latent_dim): what streaming runs once per frame."""
        return self.encoder(frames)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, C, H, W) -> logits (B, num_classes)."""
        b, t = x.shape[:2]
        feats = self.encoder(x.flatten(0, 1)).unflatten(0, (b, t))
        return self.head(feats)

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, C, H, W) -> (1, B, K): a single model is an ensemble of one (models.ensemble)."""
        return self(x)[None]

    def member_step_logits(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, C, H, W) -> (1, B, T, K): the classifier at every step (training's `step_loss`)."""
        b, t = x.shape[:2]
        feats = self.encoder(x.flatten(0, 1)).unflatten(0, (b, t))
        return self.head.step_logits(feats)[None]

    def frozen_step_logits(self, f: torch.Tensor) -> torch.Tensor:
        """Cached frozen features f (B, T, F) -> (1, B, T, K); equals member_step_logits()."""
        b, t = f.shape[:2]
        feats = self.encoder.trainable(f.flatten(0, 1)).unflatten(0, (b, t))
        return self.head.step_logits(feats)[None]

    def forward_frozen(self, f: torch.Tensor) -> torch.Tensor:
        """Cached frozen features f (B, T, F) -> logits (B, num_classes); equals forward()."""
        b, t = f.shape[:2]
        feats = self.encoder.trainable(f.flatten(0, 1)).unflatten(0, (b, t))
        return self.head(feats)

    def frozen_features(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, C, H, W) -> the frozen part's output (B, T, F), for the feature cache."""
        b, t = x.shape[:2]
        return self.encoder.frozen(x.flatten(0, 1)).unflatten(0, (b, t))
