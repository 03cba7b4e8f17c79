"""The service's event history: a bounded list of event records with increasing integer ids.

Fed by the events detector (one record per event start and end) or by anything that makes
records; read by /events (newest first) and /streams/{name}/events?since=ID (oldest first,
ids above ID, so a poller never misses or repeats one while it stays in the history).
"""

from __future__ import annotations

import threading
from collections import deque


class EventLog:
    def __init__(self, history: int = 1000):
        self._items: deque[dict] = deque(maxlen=history)
        self._next = 1
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}
        """Events (start records) per stream so far, beyond the history bound too."""

    def append(self, record: dict) -> dict:
        """Store a copy of `record` with its `seq` id; returns the stored record."""
        with self._lock:
            item = {**record, "seq": self._next}
            self._next += 1
            self._items.append(item)
            if record.get("phase", "start") == "start":
                stream = str(record.get("stream", ""))
                self.counts[stream] = self.counts.get(stream, 0) + 1
            return item

    def newest(self, limit: int = 100, stream: str | None = None) -> list[dict]:
        with self._lock:
            items = [r for r in reversed(self._items) if stream is None or r.get("stream") == stream]
        return items[:limit]

    def since(self, seq: int, stream: str | None = None, limit: int = 1000) -> list[dict]:
        with self._lock:
            items = [r for r in self._items if r["seq"] > seq and (stream is None or r.get("stream") == stream)]
        return items[:limit]
