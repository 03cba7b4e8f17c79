"""A live source's frames, newest only: what its capture thread posts and its consumer iterates.

Built on the stream engine's one-slot `Mailbox` (newest-only mode), so LiveSource, vc-bench's
paced sources and the scheduler keep frames one way: a frame that arrives while the consumer is
busy replaces the one waiting, and latency stays one frame however slow the model is. This
adds what a source needs around it: stamping (time since start, index in the source), the
count of frames read, and a stall check for producers that may hang in a driver call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from lrcn.core.errors import SourceError
from lrcn.runtime.mailbox import Mailbox


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame (a dataclass, not a NamedTuple: a field `index` would shadow tuple.index)."""

    image: np.ndarray
    """BGR uint8 as OpenCV decodes it."""
    t: float
    """Seconds: media time for files, time since opening for live sources."""
    index: int
    """Position in the source (frames read before this one)."""


class NewestFrames:
    """The producer `put`s images and `end`s (with an error or not); the consumer iterates `frames()`."""

    def __init__(self) -> None:
        self.box: Mailbox[Frame] = Mailbox()
        self.count = 0
        """Frames put so far (the source's `read`)."""
        self.t0 = time.monotonic()
        self.alive_at = self.t0
        """When the producer last put a frame or said it is still trying (touch)."""

    def put(self, image: np.ndarray, t: float | None = None) -> bool:
        """Post a frame stamped `t` (default: seconds since t0); False once ended (stop producing)."""
        now = time.monotonic()
        self.alive_at = now
        frame = Frame(image, now - self.t0 if t is None else t, self.count)
        self.count += 1
        return self.box.put(frame)

    def touch(self) -> None:
        """A sign of life without a frame (e.g. a reconnect attempt)."""
        self.alive_at = time.monotonic()

    def end(self, error: str | None = None) -> None:
        """No frame will follow; `error` (one line) is raised by frames() as a SourceError."""
        self.box.close(error)

    def frames(self, stall_s: float | None = None, on_stall: Callable[[], str] | None = None) -> Iterator[Frame]:
        """Each frame posted since the last one given (the newest: those in between were replaced).

        With `stall_s`, no frame and no sign of life for that long ends the iteration with a
        SourceError whose message `on_stall()` gives (it may also stop the producer).
        """
        box, wait = self.box, None if stall_s is None else min(1.0, stall_s / 4)
        while True:
            with box.cond:
                box.cond.wait_for(lambda: box.pending or box.closed, timeout=wait)
                frame = box.take()
                ended, error = box.ended, box.error
            if frame is not None:
                yield frame
            elif ended:
                if error:
                    raise SourceError(error)
                return
            elif stall_s is not None and time.monotonic() - self.alive_at > stall_s:
                raise SourceError(on_stall() if on_stall else f"no frame for {stall_s:g} s (the source stalled)")
