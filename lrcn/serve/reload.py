"""Hot model reload: which model files a service may swap to, what it serves, and when a swap is refused.

A swap names a file; it is allowed only inside the config's `models_dir` or in its
`model_allow` list, compared after resolving symlinks and `..` (a link inside the folder that
points out of it is refused). The new model is loaded and checked in full before the service
changes anything (`Service.swap_model`); a model with other classes or preprocessing is
refused unless forced.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from lrcn.core.text import printable

HASH_CHUNK = 1 << 20


class SwapRefused(Exception):
    """A model swap not done; `status` is the HTTP answer (403, 409, 422), the message one line."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ModelInfo:
    """The model a service serves, as /ready and /metrics name it."""

    path: str
    sha256: str
    version: str | None
    """The lrcn version that exported it (its metadata's `lrcn_version`)."""
    exported: str | None

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    @classmethod
    def of(cls, path: str, meta) -> ModelInfo:
        return cls(path, file_sha256(path), meta.lrcn_version, meta.exported)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def allowed_path(path: str, models_dir: str | None, allow: list[str]) -> str:
    """`path` resolved (symlinks, `..`) if the config allows it; SwapRefused(403) otherwise."""
    shown = printable(str(path))[:300]
    if not models_dir and not allow:
        raise SwapRefused(403, "model swaps are off: the config names no models_dir or model_allow")
    try:
        real = Path(path).resolve()
    except (OSError, RuntimeError, ValueError) as e:
        raise SwapRefused(422, f"{shown}: not a usable path ({e})") from None
    if any(real == Path(a).resolve() for a in allow):
        return str(real)
    if models_dir and real.is_relative_to(Path(models_dir).resolve()):
        return str(real)
    raise SwapRefused(403, f"{shown}: not an allowed model (outside models_dir and model_allow)")


def contract_change(old, new) -> str | None:
    """What makes `new`'s predictions mean something else than `old`'s (classes, preprocessing); None if nothing."""
    if list(old.class_names) != list(new.class_names):
        return f"other classes ({', '.join(new.class_names)[:200]} instead of {', '.join(old.class_names)[:200]})"
    if old.preprocess != new.preprocess:
        return "other preprocessing"
    return None
