"""Checkpoints as plain data, written atomically; reading them back lives in lrcn.models.checkpoint."""

from __future__ import annotations

from pathlib import Path

import torch

from lrcn.core.atomic import atomic_open, remove_stale_temps, write_json
from lrcn.models.checkpoint import (
    CHECKPOINT_VERSION,
    CheckpointError,
    check_shapes,
    load_checkpoint,
    model_from_checkpoint,
)

# What training code imports from here: writing lives in this module, reading in lrcn.models.
__all__ = [
    "CHECKPOINT_VERSION",
    "CheckpointError",
    "check_shapes",
    "load_checkpoint",
    "model_from_checkpoint",
    "remove_stale_temps",
    "save_checkpoint",
    "write_json",
]


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write {"model", "optimizer", "scheduler", "epoch", "config", "version", ...} atomically.

    A kill at any moment leaves either the old file or the new one, never a torn one.
    """
    with atomic_open(path, "wb") as fh:  # Ctrl-C or a full disk mid-write: the old file stands
        torch.save({**state, "version": CHECKPOINT_VERSION}, fh)
