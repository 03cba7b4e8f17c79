"""A one-slot mailbox between a capture thread and the inference loop.

A live camera's mailbox keeps only the newest frame: a frame not yet taken is replaced by the
next one (and counted), so a slow consumer skips frames instead of falling behind and latency
never grows. A file's mailbox is lossless: `put` waits until the previous frame was taken, so
every frame the file gives is processed, at the consumer's pace.

Many mailboxes can share one `threading.Condition`, so one consumer waits for "any stream has
a frame" without polling (the multi-stream scheduler does).
"""

from __future__ import annotations

import threading
from typing import Generic, TypeVar

T = TypeVar("T")


class Mailbox(Generic[T]):
    """Holds at most one item. `close(error)` ends it; the consumer sees the end once the slot is empty."""

    def __init__(self, *, lossless: bool = False, cond: threading.Condition | None = None):
        self.lossless = lossless
        self.cond = cond or threading.Condition()
        self._item: T | None = None
        self._full = False
        self.closed = False
        self.error: Exception | str | None = None
        self.replaced = 0
        """Items overwritten before the consumer took them (newest-only mode)."""

    def put(self, item: T) -> bool:
        """Offer an item; False once the mailbox is closed (the producer should stop)."""
        with self.cond:
            if self.lossless:
                self.cond.wait_for(lambda: not self._full or self.closed)
            if self.closed:
                return False
            self.replaced += self._full
            self._item, self._full = item, True
            self.cond.notify_all()
            return True

    def take(self) -> T | None:
        """The waiting item or None; never blocks. Call with or without `cond` held."""
        with self.cond:
            if not self._full:
                return None
            item, self._item, self._full = self._item, None, False
            self.cond.notify_all()  # a lossless producer waits for the slot
            return item

    @property
    def pending(self) -> bool:
        return self._full

    @property
    def ended(self) -> bool:
        """Closed and drained: nothing more will come."""
        return self.closed and not self._full

    def close(self, error: Exception | str | None = None) -> None:
        """No more items (error: why the producer stopped). A waiting item stays takeable."""
        with self.cond:
            if not self.closed:
                self.closed, self.error = True, error
            self.cond.notify_all()
