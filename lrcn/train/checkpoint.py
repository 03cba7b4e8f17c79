"""Checkpoints as plain data, written atomically, loaded with weights_only=True."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from lrcn.runtime.errors import LrcnError

CHECKPOINT_VERSION = 1


class CheckpointError(LrcnError):
    """A checkpoint that is missing, corrupt, or of the wrong kind."""


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Write {"model", "optimizer", "scheduler", "epoch", "config", "version", ...} atomically.

    A kill at any moment leaves either the old file or the new one, never a torn one.
    """
    path = Path(path)
    tmp = _tmp(path)
    try:
        with open(tmp, "wb") as fh:
            torch.save({**state, "version": CHECKPOINT_VERSION}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # Ctrl-C or a full disk mid-write: the old file stands, the temp goes
        tmp.unlink(missing_ok=True)
        raise


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Delete the temp files of writers that no longer run (a SIGKILL mid-write leaves one).

    The real files beside them are whole (os.replace); these are debris. Returns what went.
    """
    gone = []
    for tmp in Path(folder).glob(".*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            gone.append(tmp)
    return gone


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


def write_json(path: str | Path, obj) -> None:
    path = Path(path)
    tmp = _tmp(path)
    tmp.write_text(json.dumps(obj, indent=2, default=str) + "\n")
    os.replace(tmp, path)


def model_from_checkpoint(path: str | Path, family: str | None = None):
    """Rebuild the model a checkpoint was saved from, in eval mode; returns (model, checkpoint).

    `family` (e.g. "convlstm") refuses a checkpoint of another family in one line.
    """
    from lrcn.models import ModelConfig, build_model

    ckpt = load_checkpoint(path)
    try:
        cfg = ModelConfig.from_dict(ckpt["config"]["model"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: checkpoint has no usable model config ({e})") from None
    if family and cfg.name != family:
        raise CheckpointError(f"{path}: checkpoint is a {cfg.name} model, not {family}")
    model = build_model(cfg, load_weights=False)
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError) as e:
        raise CheckpointError(f"{path}: weights do not fit a {cfg.name} model ({str(e).splitlines()[0]})") from None
    return model.eval(), ckpt
