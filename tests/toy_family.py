"""A fourth model family, whole: what a new family's module holds (tests/test_families.py registers it).

Its encoder has a frozen part, so training takes the feature-cache path, as `pretrained` does.
"""

from __future__ import annotations

import torch
from torch import nn

from lrcn.models.config import ModelConfig
from lrcn.models.lrcn import LRCN
from lrcn.models.registry import register_model


class PatchEncoder(nn.Module):
    """Frozen: a random 4x4-patch convolution, pooled to 2x2; trainable: one Linear to latent_dim."""

    def __init__(self, in_channels: int, latent_dim: int):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(in_channels, 4, 4, stride=4), nn.AdaptiveAvgPool2d(2))
        self.backbone.requires_grad_(False)
        self.fc = nn.Linear(4 * 2 * 2, latent_dim)

    def frozen(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x).flatten(1)

    def trainable(self, f: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(f))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trainable(self.frozen(x))


@register_model("toylstm")
def toylstm(cfg: ModelConfig, load_weights: bool = True) -> LRCN:
    return LRCN(cfg, PatchEncoder(cfg.in_channels, cfg.latent_dim))
