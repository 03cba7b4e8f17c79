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
- `mqtt://host[:port]/topic[#qos=1,queue=1000,discovery=homeassistant]`: paho-mqtt (the `sinks`
  extra), reconnecting on its own; events on topic/<stream>/events, the current label retained on
  topic/<stream>/state, "online"/"offline" retained on topic/available (the last will says offline).
  `mqtts://` is MQTT over TLS (port 8883 by default, the broker's certificate verified; `#ca=PATH`
  for a private CA). `discovery=homeassistant` (the value is Home Assistant's discovery prefix) also
  publishes retained discovery configs and per-label "active" states (`sinks.ha_discovery`).

Credentials: `user:password@` in an http(s) or mqtt(s) URL is used (HTTP basic auth, MQTT username
and password), or `#auth_env=VAR` names an environment variable holding `user:password` (and for
HTTP `#token_env=VAR` one holding a bearer token), which keeps them out of `ps` and shell history.
A sink is always *named* without its user info, query and fragment (`display_url`): the name is
what summaries, warnings and metrics labels show, and a `?api_key=` must not end up there.

Records are dicts with a "type": "event" (see `events.Event.to_record`) or "prediction"
(`stream.prediction_record`, the same record `vc-run --json` prints per prediction). A sink with
`wants_predictions` False is only given events.
"""

from __future__ import annotations

from lrcn.runtime.sinks.base import (
    SINK_SCHEMES,
    SINK_SPECS,
    Sink,
    SinkSummary,
    display_url,
    parse_options,
    shown_spec,
    url_credentials,
)

__all__ = [
    "SINK_SCHEMES",
    "SINK_SPECS",
    "Sink",
    "SinkSummary",
    "display_url",
    "open_sink",
    "open_sinks",
    "parse_options",
    "url_credentials",
]


def open_sink(spec: str) -> Sink:
    """A sink from its spec (see the module docstring). Raises ValueError on a bad spec."""
    if spec.startswith("jsonl:"):
        from lrcn.runtime.sinks.jsonl import JsonlSink

        return JsonlSink.from_spec(spec)
    if spec.startswith(("http://", "https://")):
        from lrcn.runtime.sinks.http import HttpSink

        return HttpSink.from_spec(spec)
    if spec.startswith(("mqtt://", "mqtts://")):
        from lrcn.runtime.sinks.mqtt import MqttSink

        return MqttSink.from_spec(spec)
    raise ValueError(f"--sink {shown_spec(spec)}: expected {SINK_SPECS}")


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
