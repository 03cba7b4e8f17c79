"""What the stream code needs of a source (`sources.FileSource`, `sources.LiveSource`, a test's fake)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from lrcn.runtime.sources import Frame


class FrameSource(Protocol):
    name: str
    """Shown in every line about the source."""
    read: int
    """Frames read so far."""
    live: bool
    """A camera or URL (newest frame only), not a file."""

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...
