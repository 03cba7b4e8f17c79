"""Typed model configuration, saved into run folders, checkpoints and ONNX metadata."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lrcn.core.checks import WIDTH_MAX, at_least, from_dict, img_size_problems, one_of, refuse
from lrcn.models.specs import family_names, family_spec

BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
NORMS = ("batch", "none")
POOLS = ("last", "mean")
MAX_MEMBERS = 8
"""An ensemble costs its members' sum at every frame: a bound, not a choice."""


@dataclass
class ModelConfig:
    """Architecture of one LRCN: a per-frame encoder, then an LSTM head over time."""

    name: str = "convlstm"
    """A registered family (lrcn.models.families): convlstm, resnetlstm, pretrained, ..."""
    num_classes: int = 10
    img_size: int = 128
    """Square input side; the encoder's flattened size is computed from it."""
    in_channels: int = 3
    """Follows the modality: 3 for rgb, diff or adiff, 6 for rgb+diff, 2 for flow, 5 for rgb+flow."""
    latent_dim: int = 128
    """Per-frame feature size fed to the LSTM."""
    hidden_size: int = 128
    lstm_layers: int = 1
    bidirectional: bool = False
    pool: str = "last"
    """How the head reads the LSTM over time: `last`, the final hidden state; `mean`, the mean of every
    step's output (the LRCN paper's averaging over time). Only `last` has a frame-by-frame step form."""
    dropout: float = 0.3
    """Dropout before the classifier (and between LSTM layers when there are several)."""
    norm: str = "batch"
    """Normalisation in the custom CNNs: batch or none (the lab had none)."""
    backbone: str = "resnet152"
    """torchvision ResNet, for the families whose spec lists the backbone option (pretrained)."""
    backbone_weights: str | None = None
    """Local state dict for the backbone; None uses torchvision's weights API (downloads)."""
    members: int = 1
    """An ensemble of this many LRCNs of this config, trained side by side on the same batches, each
    with its own initialisation and its own loss; the model's prediction is their mean probability."""

    def __post_init__(self) -> None:
        problems = at_least(self, num_classes=2, latent_dim=1, hidden_size=1, lstm_layers=1) + img_size_problems(self)
        if self.in_channels not in (2, 3, 5, 6):
            problems.append(f"in_channels must be 2, 3, 5 or 6, got {self.in_channels}")
        elif self.in_channels % 3 and self.name in family_names() and family_spec(self.name).has_backbone:
            problems.append(
                f"model {self.name} reads 3-channel images with its ResNet backbone: "
                f"give it input rgb, diff, adiff, rgb+diff or rgb+adiff, not a flow input ({self.in_channels} channels)"
            )
        if not isinstance(self.members, int) or not 1 <= self.members <= MAX_MEMBERS:
            problems.append(f"members must be an integer from 1 to {MAX_MEMBERS}, got {self.members}")
        elif self.members > 1 and self.name in family_names() and family_spec(self.name).frozen_backbone:
            problems.append(f"model {self.name} has a frozen backbone that members would share: members must be 1")
        else:
            for what, width in (("latent_dim", self.feature_width), ("hidden_size", self.state_width)):
                if width > WIDTH_MAX:
                    problems.append(
                        f"{what} x members must be <= {WIDTH_MAX} (what an exported model may carry), got {width}"
                    )
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must be in [0, 1), got {self.dropout}")
        refuse(problems + one_of(self, norm=NORMS, backbone=BACKBONES, pool=POOLS))

    @property
    def step_absent(self) -> str | None:
        """Why this head has no frame-by-frame step form (it reads the whole window), None when it has one."""
        if self.bidirectional:
            return "bidirectional head: its backward pass needs the whole window"
        if self.pool != "last":
            return f"{self.pool}-pooled head: it reads every step of the window"
        return None

    @property
    def feature_width(self) -> int:
        """Per-frame features the encoder emits: each member's latent_dim, side by side."""
        return self.latent_dim * self.members

    @property
    def state_width(self) -> int:
        """Width of the head's (h, c) state a step carries: each member's hidden_size, side by side."""
        return self.hidden_size * self.members

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        return from_dict(cls, d)
