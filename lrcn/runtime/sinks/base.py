"""What every sink shares: the summary, the interface, the spec options (the transports import this, not the package)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

SINK_SCHEMES = ("jsonl:", "http://", "https://", "mqtt://")
"""How a sink spec starts (`open_sink` dispatches on it; vc-serve checks its config with it)."""
SINK_SPECS = "jsonl:PATH, http(s)://URL or mqtt://host[:port]/topic"


@dataclass
class SinkSummary:
    """What a sink did: delivered (acknowledged), failed (given up after retries), dropped (queue full),
    unsent (still queued when close timed out)."""

    name: str
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    unsent: int = 0
    note: str = ""

    def line(self) -> str:
        text = f"{self.name}: delivered {self.delivered}, failed {self.failed}, dropped {self.dropped}"
        if self.unsent:
            text += f", {self.unsent} not delivered before the close timeout"
        return text + (f" ({self.note})" if self.note else "")

    def to_dict(self) -> dict:
        return {
            "sink": self.name,
            "delivered": self.delivered,
            "failed": self.failed,
            "dropped": self.dropped,
            "unsent": self.unsent,
            "note": self.note,
        }


class Sink(Protocol):
    name: str
    wants_predictions: bool

    def emit(self, record: dict) -> None:
        """Hand over one record; returns at once (queued or written)."""

    def close(self, timeout: float = 2.0) -> SinkSummary:
        """Deliver what can be delivered within `timeout` seconds, stop, and say what happened."""


def parse_options(spec: str, allowed: dict[str, type]) -> tuple[str, dict]:
    """'target#a=1,b=2' -> ('target', {'a': 1, 'b': 2}); unknown keys and bad values raise ValueError."""
    target, _, frag = spec.partition("#")
    opts: dict = {}
    for item in filter(None, frag.split(",")):
        key, eq, value = item.partition("=")
        if key not in allowed or not eq:
            raise ValueError(f"--sink {spec}: unknown option {key!r} (options: {', '.join(allowed)})")
        try:
            opts[key] = allowed[key](value)
        except ValueError:
            raise ValueError(f"--sink {spec}: {key} must be a {allowed[key].__name__}, got {value!r}") from None
    return target, opts
