"""An ensemble of M LRCNs behind the LRCN's own interface, so training, export and streaming take it as is.

Why: on a hundred real clips one LRCN's 5-fold accuracy moves by up to 0.09 with the seed alone
(README, "Ensembles"); the mean of M members' probabilities is steadier and more often right.

Contract (M members, each with latent L and hidden H):
- encode: frames (N, C, S, S) -> features (N, M*L): the members' features side by side;
- head: features (B, T, M*L) -> "logits" (B, K) = log of the members' mean probability, so that
  softmax(logits) is exactly that mean (the exported graphs add the softmax);
- head.step: feat (B, M*L), h, c (layers, B, M*H) -> (logits, h', c'): each member's state side by side;
- member_logits: x (B, T, C, S, S) -> (M, B, K), each member's own logits, which training's loss reads
  so that every member learns as if alone (a loss on the mean would pull them together);
- member_step_logits: x -> (M, B, T, K), the same at every step (training's `step_loss`).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def mean_probability_logits(logits: torch.Tensor) -> torch.Tensor:
    """(M, B, K) member logits -> (B, K) log of the mean of their softmaxes."""
    return torch.logsumexp(torch.log_softmax(logits, dim=-1), dim=0) - math.log(logits.shape[0])


class EnsembleHead(nn.Module):
    """The members' LSTM heads, each reading its own slice of the features and of the state."""

    def __init__(self, heads: list[nn.Module], latent_dim: int, hidden_size: int):
        super().__init__()
        self.members = nn.ModuleList(heads)
        self.latent_dim, self.hidden_size = latent_dim, hidden_size

    def member_logits(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (B, T, M*L) -> (M, B, K)."""
        parts = feats.split(self.latent_dim, dim=-1)
        return torch.stack([head(f) for head, f in zip(self.members, parts, strict=True)])

    def member_step_logits(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (B, T, M*L) -> (M, B, T, K): each member's classifier at every step."""
        parts = feats.split(self.latent_dim, dim=-1)
        return torch.stack([head.step_logits(f) for head, f in zip(self.members, parts, strict=True)])

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (B, T, M*L) -> (B, K), log mean probability."""
        return mean_probability_logits(self.member_logits(feats))

    def step(self, feat: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        """feat (B, M*L), h and c (layers, B, M*H) -> (logits (B, K), h', c')."""
        # each member's slice of the state made contiguous: the exporter's LSTM loop needs it to be
        outs = [
            head.step(f, hm.contiguous(), cm.contiguous())
            for head, f, hm, cm in zip(
                self.members,
                feat.split(self.latent_dim, dim=-1),
                h.split(self.hidden_size, dim=-1),
                c.split(self.hidden_size, dim=-1),
                strict=True,
            )
        ]
        logits = mean_probability_logits(torch.stack([o[0] for o in outs]))
        return logits, torch.cat([o[1] for o in outs], dim=-1), torch.cat([o[2] for o in outs], dim=-1)


class EnsembleEncoder(nn.Module):
    """The members' encoders: frames (N, C, S, S) -> (N, M*L)."""

    def __init__(self, encoders: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(encoders)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return torch.cat([enc(frames) for enc in self.members], dim=-1)


class EnsembleLRCN(nn.Module):
    """M LRCNs of one config (cfg.members = M), built by the family's own builder one after another
    from the same random stream, so each starts from its own initialisation."""

    def __init__(self, cfg, members: list[nn.Module]):
        super().__init__()
        self.cfg = cfg
        self.encoder = EnsembleEncoder([m.encoder for m in members])
        self.head = EnsembleHead([m.head for m in members], cfg.latent_dim, cfg.hidden_size)

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """frames (N, C, H, W) -> features (N, M*L)."""
        return self.encoder(frames)

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, C, H, W) -> (M, B, K)."""
        b, t = x.shape[:2]
        feats = self.encoder(x.flatten(0, 1)).unflatten(0, (b, t))
        return self.head.member_logits(feats)

    def member_step_logits(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, C, H, W) -> (M, B, T, K): each member's classifier at every step (per-step loss)."""
        b, t = x.shape[:2]
        feats = self.encoder(x.flatten(0, 1)).unflatten(0, (b, t))
        return self.head.member_step_logits(feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, T, C, H, W) -> (B, K), log mean probability."""
        return mean_probability_logits(self.member_logits(x))
