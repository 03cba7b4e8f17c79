"""Sinks: where event (and prediction) records go. One small interface, three transports.

    sink = open_sink("mqtt://127.0.0.1:1883/lrcn")
    sink.emit(record)              # never blocks on the network: a bounded queue is in front
    summary = sink.close(timeout=2.0)  # delivered / failed / dropped / unsent

Specs (`vc-run --sink`, repeatable), options after `#` (the fragment never leaves the machine):
- `jsonl:PATH[#max_mb=10,keep=5]`: one JSON object a line, flushed per record; past `max_mb` the
  file rotates to PATH.1 ... PATH.<keep>.
- `http://...` or `https://...[#timeout=2,retries=3,queue=1000,predictions=0]`: POST each record as
  JSON from a worker thread; retries with backoff; `predictions=N` also sends predictions, at most
  N per second per stream.
- `mqtt://host[:port]/topic[#qos=1,queue=1000,discovery=homeassistant]`: paho-mqtt (the `sinks` extra), reconnecting on its
  own; events on topic/<stream>/events, the current label retained on topic/<stream>/state,
  "online"/"offline" retained on topic/available (the last will says offline).
  `discovery=homeassistant` (the value is Home Assistant's discovery prefix) also publishes
  retained discovery configs and per-label "active" states (`sinks.ha_discovery`).

Records are dicts with a "type": "event" (see `events.Event.to_record`) or "prediction"
({"stream", "t", "wall", "label", "probability"}). A sink with `wants_predictions` False
is only given events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


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


def open_sink(spec: str) -> Sink:
    """A sink from its spec (see the module docstring). Raises ValueError on a bad spec."""
    if spec.startswith("jsonl:"):
        from lrcn.runtime.sinks.jsonl import JsonlSink

        return JsonlSink.from_spec(spec)
    if spec.startswith(("http://", "https://")):
        from lrcn.runtime.sinks.http import HttpSink

        return HttpSink.from_spec(spec)
    if spec.startswith("mqtt://"):
        from lrcn.runtime.sinks.mqtt import MqttSink

        return MqttSink.from_spec(spec)
    raise ValueError(f"--sink {spec}: expected jsonl:PATH, http(s)://URL or mqtt://host[:port]/topic")


def open_sinks(specs: list[str]) -> list[Sink]:
    """Every sink or none: a bad spec closes the ones already opened."""
    sinks: list[Sink] = []
    try:
        for spec in specs:
            sinks.append(open_sink(spec))
    except BaseException:
        for s in sinks:
            s.close(0.0)
        raise
    return sinks
