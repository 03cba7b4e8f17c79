"""A small explicit model registry: @register_model("name"), build_model(cfg), list_models()."""

from __future__ import annotations

from typing import Callable

from torch import nn

from lrcn.models.config import ModelConfig

_BUILDERS: dict[str, Callable[[ModelConfig], nn.Module]] = {}


def register_model(name: str) -> Callable:
    def deco(fn: Callable[[ModelConfig], nn.Module]) -> Callable[[ModelConfig], nn.Module]:
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is already registered")
        _BUILDERS[name] = fn
        return fn

    return deco


def list_models() -> list[str]:
    return sorted(_BUILDERS)


def build_model(cfg: ModelConfig) -> nn.Module:
    if cfg.name not in _BUILDERS:
        raise ValueError(f"unknown model {cfg.name!r}; choose one of {', '.join(list_models())}")
    return _BUILDERS[cfg.name](cfg)
