"""A small explicit model registry: @register_model("name"), build_model(cfg), list_models()."""

from __future__ import annotations

from typing import Callable

from torch import nn

from lrcn.models.config import ModelConfig

_BUILDERS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable:
    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is already registered")
        _BUILDERS[name] = fn
        return fn

    return deco


def list_models() -> list[str]:
    return sorted(_BUILDERS)


def build_model(cfg: ModelConfig, *, load_weights: bool = True) -> nn.Module:
    """Build a family. load_weights=False skips pretrained backbone weights (a checkpoint will
    overwrite them anyway), so rebuilding from a checkpoint never downloads."""
    if cfg.name not in _BUILDERS:
        raise ValueError(f"unknown model {cfg.name!r}; choose one of {', '.join(list_models())}")
    return _BUILDERS[cfg.name](cfg, load_weights=load_weights)
