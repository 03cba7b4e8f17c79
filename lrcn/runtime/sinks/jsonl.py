"""`jsonl:PATH`: one JSON object a line, appended and flushed per record, rotated past a size cap."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path
from typing import BinaryIO

from lrcn.core.errors import LrcnError
from lrcn.core.text import printable
from lrcn.runtime.sinks.base import SinkSummary, parse_options


class JsonlSink:
    """Appends to PATH; before a line would take it past `max_bytes`, PATH becomes PATH.1 (PATH.1 becomes
    PATH.2, ... up to PATH.<keep>, the oldest is deleted) and a new PATH starts. Writes are local and
    short, so they happen in the caller's thread; a write that fails counts as failed.

    PATH opens with O_NOFOLLOW: a symlink planted at it is refused, never appended through. The file
    is unbuffered (each record is one write), so a full disk fails that record, counted, and leaves
    nothing for close() to fail on. A rotation that fails (a rename refused) keeps appending to PATH
    and is tried again before the next record; the file is reopened whatever happened, so one bad
    rotation never closes the sink for good.
    """

    wants_predictions = False

    def __init__(
        self, path: str | os.PathLike, *, max_bytes: int = 10 * 2**20, keep: int = 5, predictions: bool = False
    ):
        if max_bytes < 1:
            raise ValueError(f"jsonl sink: max_mb must be > 0, got {max_bytes / 2**20:g}")
        if keep < 1:
            raise ValueError(f"jsonl sink: keep must be >= 1, got {keep}")
        self.path, self.max_bytes, self.keep = Path(path), max_bytes, keep
        self.name = f"jsonl:{printable(self.path)}"
        self.wants_predictions = predictions
        self.summary = SinkSummary(self.name)
        self._fh: BinaryIO | None = None
        self._size = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._open()
        except OSError as e:
            why = "a symbolic link: refused" if e.errno == errno.ELOOP else (e.strerror or str(e))
            raise LrcnError(f"{printable(self.path)}: cannot open for appending ({why})") from None

    def _open(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        self._fh = os.fdopen(fd, "ab", buffering=0)
        self._size = os.fstat(fd).st_size

    @classmethod
    def from_spec(cls, spec: str) -> JsonlSink:
        target, opts = parse_options(spec, {"max_mb": float, "keep": int, "predictions": int})
        path = target[len("jsonl:") :]
        if not path:
            raise ValueError(f"--sink {spec}: give a file, e.g. jsonl:events.jsonl")
        return cls(
            path,
            max_bytes=int(opts.get("max_mb", 10) * 2**20),
            keep=opts.get("keep", 5),
            predictions=bool(opts.get("predictions", 0)),
        )

    def emit(self, record: dict) -> None:
        line = (json.dumps(record, separators=(",", ":"), default=str) + "\n").encode("utf-8")
        try:
            if self._size > 0 and self._size + len(line) > self.max_bytes:
                self._rotate()
            if self._fh is None:
                self._open()
            assert self._fh is not None
            view = memoryview(line)
            while view:  # an unbuffered write may be partial
                n = self._fh.write(view)
                if not n:
                    raise OSError(errno.EIO, "the write wrote nothing")
                view = view[n:]
                self._size += n
            self.summary.delivered += 1
        except (OSError, ValueError) as e:  # ValueError: the file was closed
            self.summary.failed += 1
            self.summary.note = f"last error: {e.strerror if isinstance(e, OSError) and e.strerror else e}"

    def _rotate(self) -> None:
        """PATH -> PATH.1 -> ... ; PATH is reopened (a new one, or the old one if a rename failed) in any case."""
        self._close_file()
        try:
            for i in range(self.keep - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{i}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        except OSError as e:
            self.summary.note = f"last error: rotation failed ({e.strerror or e}); appending, retried next record"
        finally:
            self._open()

    def _close_file(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            try:
                fh.close()
            except OSError:  # nothing is buffered; a device may still complain
                pass

    def close(self, timeout: float = 2.0) -> SinkSummary:
        self._close_file()
        return self.summary
