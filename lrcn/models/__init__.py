"""Model code: family specs (torch-free), encoders, the LSTM head, the registry of builders (torch).

Names load on first use (PEP 562), so `from lrcn.models.specs import family_names` and the
CLIs' help never import torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "BACKBONES": "lrcn.models.config",
    "NORMS": "lrcn.models.config",
    "ModelConfig": "lrcn.models.config",
    "FamilySpec": "lrcn.models.specs",
    "family_names": "lrcn.models.specs",
    "family_spec": "lrcn.models.specs",
    "register_family": "lrcn.models.specs",
    "build_model": "lrcn.models.registry",
    "list_models": "lrcn.models.registry",
    "register_model": "lrcn.models.registry",
    "model_from_checkpoint": "lrcn.models.checkpoint",
    "LRCN": "lrcn.models.lrcn",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'lrcn.models' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
