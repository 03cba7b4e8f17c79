"""The family list: one registration line a family (torch-free; builders load on first build)."""

from __future__ import annotations

from lrcn.models.specs import FamilySpec, register_family

CUSTOM_CNN = ("norm",)
BACKBONE = ("backbone", "backbone_weights")

register_family(FamilySpec("convlstm", "lrcn.models.builders", "the lab's 4-layer CNN", options=CUSTOM_CNN))
register_family(
    FamilySpec("resnetlstm", "lrcn.models.builders", "a small ResNet trained from scratch", options=CUSTOM_CNN)
)
register_family(
    FamilySpec(
        "pretrained",
        "lrcn.models.builders",
        "a frozen torchvision ResNet",
        normalisation="imagenet",
        frozen_backbone=True,
        options=BACKBONE,
    )
)
