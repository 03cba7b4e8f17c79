"""The LSTM head shared by every family: per-frame features (B, T, L) -> logits (B, K)."""

from __future__ import annotations

import torch
from torch import nn


class LSTMHead(nn.Module):
    """A batch_first LSTM over time, classifying from the final hidden state (pool `last`) or from
    the mean of its outputs over every step (pool `mean`: each step's output, both directions side
    by side when bidirectional; every frame then reaches the classifier through one LSTM step).

    A bidirectional `last` head concatenates the last layer's final forward state (which has seen
    frames 0..T-1) and final backward state (which has seen T-1..0), not output[:, -1],
    where the backward direction has seen one frame only. No state is kept between calls.
    """

    def __init__(
        self,
        latent_dim: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float,
        num_classes: int,
        pool: str = "last",
    ):
        super().__init__()
        self.pool = pool
        self.lstm = nn.LSTM(
            latent_dim,
            hidden_size,
            num_layers=num_layers,
            batch_first=True,
            bidirectional=bidirectional,
            dropout=dropout if num_layers > 1 else 0.0,
        )
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(hidden_size * (2 if bidirectional else 1), num_classes)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (B, T, L) -> logits (B, K)."""
        out, (h_n, _) = self.lstm(feats)
        if self.pool == "mean":
            return self.fc(self.dropout(out.mean(dim=1)))
        return self.classify(h_n)

    def step_logits(self, feats: torch.Tensor) -> torch.Tensor:
        """feats (B, T, L) -> (B, T, K): the classifier read at every step of a unidirectional `last`
        head, as if the clip ended there; [:, -1] equals forward(). Training's per-step loss reads it."""
        self._needs_steps("per-step logits")
        out, _ = self.lstm(feats)
        return self.fc(self.dropout(out))

    def _needs_steps(self, what: str) -> None:
        if self.lstm.bidirectional or self.pool != "last":
            kind = "bidirectional" if self.lstm.bidirectional else f"{self.pool}-pooled"
            raise ValueError(f"a {kind} head has no {what}: it needs the whole clip")

    def classify(self, h_n: torch.Tensor) -> torch.Tensor:
        """h_n (layers * directions, B, H) -> logits (B, K)."""
        last = torch.cat([h_n[-2], h_n[-1]], dim=1) if self.lstm.bidirectional else h_n[-1]
        return self.fc(self.dropout(last))

    def step(self, feat: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        """One time step of a unidirectional head: feat (B, L), h and c (layers, B, H) ->
        (logits (B, K), h', c'). From zero state, T steps equal forward() on the T frames."""
        self._needs_steps("step form")
        _, (h2, c2) = self.lstm(feat.unsqueeze(1), (h, c))
        return self.classify(h2), h2, c2
