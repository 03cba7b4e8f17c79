"""torchvision ResNet backbones, with weights from a local state dict or torchvision's weights API."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import nn

from lrcn.core.errors import LrcnError

FEATURE_DIMS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048, "resnet152": 2048}


class WeightsError(LrcnError):
    """Backbone weights that cannot be had: the message says what file to place where."""


def load_backbone(name: str, weights_file: str | None, *, load_weights: bool = True) -> tuple[nn.Module, int]:
    """A torchvision ResNet with its weights loaded; returns (module, feature dim)."""
    import torchvision

    if name not in FEATURE_DIMS:
        raise ValueError(f"unknown backbone {name!r}; choose one of {', '.join(FEATURE_DIMS)}")
    model = getattr(torchvision.models, name)(weights=None)
    if not load_weights:
        return model, FEATURE_DIMS[name]
    if weights_file:
        path = Path(weights_file)
        if not path.is_file():
            raise WeightsError(f"{path}: backbone weights file not found")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001
            raise WeightsError(f"{path}: not a loadable state dict ({type(e).__name__})") from None
        if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
            state = state["model"]
        missing, unexpected = model.load_state_dict(state, strict=False)
        missing = [k for k in missing if not k.startswith("fc.")]
        if missing:
            raise WeightsError(f"{path}: not {name} weights ({len(missing)} missing keys, e.g. {missing[0]})")
    else:
        enum = torchvision.models.get_model_weights(name).DEFAULT
        try:
            model.load_state_dict(enum.get_state_dict(progress=False, check_hash=True))
        except Exception as e:  # noqa: BLE001 - offline: say exactly what to place where
            hub = Path(torch.hub.get_dir()) / "checkpoints"
            filename = os.path.basename(enum.url)
            raise WeightsError(
                f"cannot download {name} weights ({type(e).__name__}); place {filename} in {hub}/ "
                f"(from {enum.url}) or pass --backbone-weights FILE"
            ) from None
    return model, FEATURE_DIMS[name]
