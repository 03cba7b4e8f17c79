"""Per-frame encoders: frames (N, C, H, W) -> features (N, latent_dim).

Each encoder is split in two: `frozen(x)` (the part that never trains; identity for the
custom CNNs, the torchvision backbone for `pretrained`) and `trainable(f)`. A frozen part's
output can be cached per clip, so the head trains without re-running the backbone; whether a
family has such a part is its spec's `frozen_backbone` (lrcn.models.families).
"""

from __future__ import annotations

import torch
from torch import nn


def _flat_size(body: nn.Module, channels: int, img_size: int) -> int:
    with torch.no_grad():
        return int(body(torch.zeros(1, channels, img_size, img_size)).flatten(1).shape[1])


class _FromScratch(nn.Module):
    """An encoder that trains whole: `body` (convolutions) then `fc` to latent_dim; nothing frozen."""

    body: nn.Module
    fc: nn.Linear

    def frozen(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def trainable(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(self.body(x).flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trainable(self.frozen(x))


class ConvEncoder(_FromScratch):
    """The lab's CNN: 4 x (Conv2d 3x3, [BatchNorm], ReLU, MaxPool2d 2), then Linear to latent_dim.

    The Linear's input size is computed from img_size (the lab hard-coded 64*2*2).
    """

    channels = (16, 32, 64, 64)

    def __init__(self, in_channels: int, latent_dim: int, img_size: int, norm: str = "batch"):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for i, c_out in enumerate(self.channels):
            # The first conv strides 2: at 128x128 it cuts the encoder's cost 4x on a 2-core CPU.
            layers.append(nn.Conv2d(c_in, c_out, 3, stride=2 if i == 0 else 1, padding=1, bias=norm == "none"))
            if norm == "batch":
                layers.append(nn.BatchNorm2d(c_out))
            layers += [nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c_in = c_out
        self.body = nn.Sequential(*layers)
        self.fc = nn.Linear(_flat_size(self.body, in_channels, img_size), latent_dim)


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, norm: str):
        super().__init__()
        bn = (lambda c: nn.BatchNorm2d(c)) if norm == "batch" else (lambda c: nn.Identity())
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=norm == "none")
        self.bn1 = bn(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=norm == "none")
        self.bn2 = bn(c_out)
        self.short = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.short = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=norm == "none"), bn(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(self.bn2(self.conv2(y)) + self.short(x))


class SmallResNetEncoder(_FromScratch):
    """A small ResNet: stem, stages of 8-16-32-64 channels with 2 basic blocks each, global
    average pool, Linear to latent_dim. Works at any img_size >= 16."""

    widths = (8, 16, 32, 64)

    def __init__(self, in_channels: int, latent_dim: int, img_size: int, norm: str = "batch"):
        super().__init__()
        bn = nn.BatchNorm2d(self.widths[0]) if norm == "batch" else nn.Identity()
        stages: list[nn.Module] = [
            nn.Conv2d(in_channels, self.widths[0], 3, stride=2, padding=1, bias=norm == "none"),
            bn,
            nn.ReLU(inplace=True),
        ]
        c_in = self.widths[0]
        for i, w in enumerate(self.widths):
            stages += [BasicBlock(c_in, w, 1 if i == 0 else 2, norm), BasicBlock(w, w, 1, norm)]
            c_in = w
        self.body = nn.Sequential(*stages, nn.AdaptiveAvgPool2d(1))
        self.fc = nn.Linear(c_in, latent_dim)


class PretrainedEncoder(nn.Module):
    """A frozen torchvision ResNet (fc removed, BatchNorm kept in eval mode) + a trainable Linear.

    With 6 input channels (rgb+diff), each 3-channel half goes through the backbone and the
    two feature vectors are concatenated before the Linear.
    """

    def __init__(self, backbone: nn.Module, feat_dim: int, in_channels: int, latent_dim: int):
        super().__init__()
        backbone.fc = nn.Identity()
        self.backbone = backbone
        for p in self.backbone.parameters():
            p.requires_grad_(False)
        self.groups = in_channels // 3
        self.fc = nn.Linear(feat_dim * self.groups, latent_dim)
        self.backbone.eval()

    def train(self, mode: bool = True) -> PretrainedEncoder:
        super().train(mode)
        self.backbone.eval()  # frozen: BatchNorm statistics never move
        return self

    def frozen(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3 * groups, H, W) -> (N, feat_dim * groups)."""
        if self.groups == 1:
            return self.backbone(x)
        return torch.cat([self.backbone(part) for part in torch.split(x, 3, dim=1)], dim=1)

    def trainable(self, f: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(f))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trainable(self.frozen(x))
