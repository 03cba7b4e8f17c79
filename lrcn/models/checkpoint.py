"""Reading checkpoints back: load one (weights_only=True) and rebuild the model it was saved from.

Here, beside the registry, so that export and the bench rebuild models without importing
training code; writing checkpoints belongs to training (lrcn.train.checkpoint).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch

from lrcn.core.errors import LrcnError

if TYPE_CHECKING:
    from lrcn.models.config import ModelConfig

CHECKPOINT_VERSION = 1


class CheckpointError(LrcnError):
    """A checkpoint that is missing, corrupt, or of the wrong kind."""


def load_checkpoint(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torn, truncated, or not a torch file
        raise CheckpointError(f"{path}: not a loadable checkpoint ({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "config" not in ckpt:
        raise CheckpointError(f"{path}: not an lrcn checkpoint (no model/config)")
    if ckpt.get("version", 0) > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path}: checkpoint version {ckpt['version']} is newer than this lrcn reads")
    return ckpt


def check_shapes(cfg, weights, path: str | Path) -> None:
    """Refuse a checkpoint whose config does not size the model its weights have, BEFORE the model
    is built: the model is built on the meta device (no memory), so a crafted config such as
    hidden_size 10**7 costs nothing here instead of tens of GB later."""
    from lrcn.models.registry import build_model

    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise CheckpointError(f"{path}: the model weights are not a dict of tensors")
    try:
        with torch.device("meta"):
            want = {k: tuple(v.shape) for k, v in build_model(cfg, load_weights=False).state_dict().items()}
    except (TypeError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"{path}: checkpoint config does not build a model ({str(e).splitlines()[0]})") from None
    got = {k: tuple(v.shape) for k, v in weights.items()}
    for key in sorted(want.keys() | got.keys()):
        if want.get(key) != got.get(key):
            raise CheckpointError(
                f"{path}: weights do not fit a {cfg.name} model of the checkpoint's config "
                f"({key}: config gives {want.get(key, 'nothing')}, weights {got.get(key, 'nothing')})"
            )


def saved_model_config(ckpt: dict, path: str | Path) -> ModelConfig:
    """The ModelConfig a loaded checkpoint was saved with; CheckpointError naming `path` when it has
    none, or one that ModelConfig refuses (a crafted hidden_size of 10**7, say)."""
    from lrcn.models.config import ModelConfig

    try:
        return ModelConfig.from_dict(ckpt["config"]["model"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: checkpoint has no usable model config ({e})") from None


def model_from_checkpoint(path: str | Path, family: str | None = None):
    """Rebuild the model a checkpoint was saved from, in eval mode; returns (model, checkpoint).

    `family` (e.g. "convlstm") refuses a checkpoint of another family in one line.
    """
    from lrcn.models.registry import build_model

    ckpt = load_checkpoint(path)
    cfg = saved_model_config(ckpt, path)
    if family and cfg.name != family:
        raise CheckpointError(f"{path}: checkpoint is a {cfg.name} model, not {family}")
    check_shapes(cfg, ckpt["model"], path)
    model = build_model(cfg, load_weights=False)
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"{path}: weights do not fit a {cfg.name} model ({str(e).splitlines()[0]})") from None
    return model.eval(), ckpt
