"""Atomic file writing: a reader, a crash or a kill sees the old file or the new one, never a torn one.

Every writer goes through `atomic_path`: the data goes to a temp file that is created exclusively
(`mkstemp`, so a planted file or symlink under a guessable name is never followed) in the target's
folder, is fsynced, then `os.replace`d over the target (a symlink at the target is replaced, not
followed). The temp name `.{name}.{pid}-{random}.tmp` carries the writer's PID so that
`remove_stale_temps` can tell debris of a killed writer from a live one; both sides of that format
live here and nowhere else.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d{1,19})-[A-Za-z0-9_]+\.tmp$")
_MAX_PID = 2**22  # Linux's pid_max ceiling; a larger number is not a live process


def new_temp(path: str | os.PathLike[str]) -> Path:
    """Create (exclusively, mode 0600) and return an empty temp file beside `path`, in our temp format.

    For writers that commit several files together and `os.replace` each themselves.
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=path.parent)
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temp path beside `path`; when the block ends without error, it becomes `path`.

    The caller writes the temp path by any means (torch.save, onnx.save, savefig with an explicit
    format). On any exception, Ctrl-C included, the temp file is removed and `path` is untouched.
    """
    path = Path(path)
    tmp = new_temp(path)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb") -> Iterator[IO[Any]]:
    """`open(path, mode)` that writes atomically (see `atomic_path`); mode "w" or "wb"."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode 'w' or 'wb', not {mode!r}")
    with atomic_path(path) as tmp, open(tmp, mode, encoding=None if "b" in mode else "utf-8") as fh:
        yield fh
        fh.flush()


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


def write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Pretty JSON, atomically; values JSON cannot hold are written as their str()."""
    write_text(path, json.dumps(obj, indent=2, default=str) + "\n")


def temp_owner(path: Path) -> int | None:
    """The writer PID in one of our temp names, or None when `path` is not one of them."""
    m = _TEMP_RE.match(path.name)
    return int(m["pid"]) if m else None


def _alive(pid: int) -> bool:
    if not 0 < pid < _MAX_PID:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike[str]) -> list[Path]:
    """Delete the temp files of writers that no longer run (a SIGKILL mid-write leaves one).

    The real files beside them are whole (os.replace); these are debris. Returns what went.
    Only names in our own temp format are touched.
    """
    gone = []
    for tmp in Path(folder).glob(".*.tmp"):
        pid = temp_owner(tmp)
        if pid is not None and not _alive(pid) and tmp.is_file() and not tmp.is_symlink():
            tmp.unlink(missing_ok=True)
            gone.append(tmp)
    return gone
