"""`jsonl:PATH`: one JSON object a line, appended and flushed per record, rotated past a size cap."""

from __future__ import annotations

import json
import os
from pathlib import Path

from lrcn.core.errors import LrcnError
from lrcn.runtime.sinks.base import SinkSummary, parse_options


class JsonlSink:
    """Appends to PATH; before a line would take it past `max_bytes`, PATH becomes PATH.1 (PATH.1 becomes
    PATH.2, ... up to PATH.<keep>, the oldest is deleted) and a new PATH starts. Writes are local and
    short, so they happen in the caller's thread; a write that fails counts as failed."""

    wants_predictions = False

    def __init__(
        self, path: str | os.PathLike, *, max_bytes: int = 10 * 2**20, keep: int = 5, predictions: bool = False
    ):
        if max_bytes < 1:
            raise ValueError(f"jsonl sink: max_mb must be > 0, got {max_bytes / 2**20:g}")
        if keep < 1:
            raise ValueError(f"jsonl sink: keep must be >= 1, got {keep}")
        self.path, self.max_bytes, self.keep = Path(path), max_bytes, keep
        self.name = f"jsonl:{self.path}"
        self.wants_predictions = predictions
        self.summary = SinkSummary(self.name)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "ab")
        except OSError as e:
            raise LrcnError(f"{self.path}: cannot open for appending ({e.strerror or e})") from None

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
            if self._fh.tell() > 0 and self._fh.tell() + len(line) > self.max_bytes:
                self._rotate()
            self._fh.write(line)
            self._fh.flush()
            self.summary.delivered += 1
        except (OSError, ValueError) as e:  # ValueError: the file was closed
            self.summary.failed += 1
            self.summary.note = f"last error: {e}"

    def _rotate(self) -> None:
        self._fh.close()
        for i in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
        os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        self._fh = open(self.path, "ab")

    def close(self, timeout: float = 2.0) -> SinkSummary:
        if not self._fh.closed:
            self._fh.close()
        return self.summary
