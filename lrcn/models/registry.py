"""The nn side of the family registry: @register_model("name") builders, build_model(cfg).

The builders are imported lazily, from the module each family's spec names (lrcn.models.specs),
so listing families never imports torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from lrcn.models.config import ModelConfig
from lrcn.models.specs import family_names, family_spec

_BUILDERS: dict[str, Callable[..., Any]] = {}


def _load(name: str) -> None:
    """Import the module a registered family's spec names (a no-op while it is being imported)."""
    if name not in _BUILDERS and name in family_names():
        importlib.import_module(family_spec(name).module)


def register_model(name: str) -> Callable:
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        _load(name)  # the family's own builder first, so that a second one for it is refused
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is already registered")
        _BUILDERS[name] = fn
        return fn

    return deco


def list_models() -> list[str]:
    return sorted(family_names())


def build_model(cfg: ModelConfig, *, load_weights: bool = True):
    """Build a family's nn.Module. load_weights=False skips pretrained backbone weights (a checkpoint
    will overwrite them anyway), so rebuilding from a checkpoint never downloads. cfg.members > 1
    builds that many with the family's builder and wraps them (lrcn.models.ensemble)."""
    spec = family_spec(cfg.name)
    _load(cfg.name)
    if cfg.name not in _BUILDERS:
        raise ValueError(f"family {cfg.name!r}: {spec.module} registers no builder for it")
    if cfg.members == 1:
        return _BUILDERS[cfg.name](cfg, load_weights=load_weights)
    from lrcn.models.ensemble import EnsembleLRCN

    one = replace(cfg, members=1)
    return EnsembleLRCN(cfg, [_BUILDERS[cfg.name](one, load_weights=load_weights) for _ in range(cfg.members)])
