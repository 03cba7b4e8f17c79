"""Home Assistant MQTT discovery for the MQTT sink: `mqtt://host/lrcn#discovery=homeassistant`.

Home Assistant creates entities from retained JSON configs on
`<prefix>/<component>/<node_id>/<object_id>/config` (prefix `homeassistant` unless its MQTT settings
change it; the option's value is the prefix). Per stream, one device (`lrcn <stream>`) with:
- `sensor` "<stream> label": the current label from the sink's retained `<topic>/<stream>/state`
  (sent when the label changes); its JSON (probability, uncertain, t) as the entity's attributes;
- `binary_sensor` "<stream> <label>" per label: on while an event of that label is open, from
  `<topic>/<stream>/<label>/active` (retained "ON"/"OFF", sent at each event start and end; "OFF" for
  every label when the stream is first seen, so a value left by a crashed run is cleared).
Every entity is available while `<topic>/available` says "online" (the sink's retained birth message;
the broker's last will and the sink's clean close say "offline").

A stream is announced when its first record arrives; its labels are the model's (`bind_labels`, called by
the event router) plus any label an event names. Configs go out again after a reconnect (a broker
restarted without persistence forgets retained messages). No image entity yet: events have no
snapshots to show.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterable, Sequence

from lrcn.runtime.sinks.base import topic_part

Message = tuple[str, str]
"""(topic, payload): a retained message for the sink to publish."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def slug(name: str) -> str:
    """A name as a discovery node/object id ([A-Za-z0-9_-]); names that had to change get a short hash,
    so "door 1" and "door_1" stay two entities."""
    s = _UNSAFE.sub("_", name) or "_"
    return s if s == name else f"{s}_{hashlib.sha1(name.encode()).hexdigest()[:6]}"


class HomeAssistantDiscovery:
    """Which configs and states to publish for the records an MQTT sink sees (thread-safe; publishes nothing)."""

    def __init__(self, topic: str, prefix: str = "homeassistant", labels: Sequence[str] = ()):
        self.topic, self.prefix = topic, prefix.strip("/") or "homeassistant"
        self.node = slug(f"lrcn_{topic}")
        self._lock = threading.Lock()
        self._labels: list[str] = list(dict.fromkeys(labels))
        self._streams: dict[str, str] = {}
        """Stream name -> its topic level."""

    def bind_labels(self, labels: Iterable[str]) -> list[Message]:
        """The model's labels: binary sensors for those new to the streams already announced."""
        with self._lock:
            new = [lab for lab in dict.fromkeys(labels) if lab not in self._labels]
            self._labels += new
            return [m for s in self._streams for lab in new for m in self._label_messages(s, lab)]

    def on_record(self, record: dict) -> list[Message]:
        """The discovery and state messages one sink record calls for (before the record itself goes out)."""
        stream = str(record.get("stream", ""))
        out: list[Message] = []
        with self._lock:
            if stream not in self._streams:
                self._streams[stream] = topic_part(stream)
                out += self._stream_messages(stream)
            label = record.get("label")
            if record.get("type") == "event" and isinstance(label, str):
                if label not in self._labels:
                    self._labels.append(label)
                    out += [m for s in self._streams for m in self._label_messages(s, label)]
                state = "ON" if record.get("phase") == "start" else "OFF"
                out.append((self._active_topic(stream, label), state))
        return out

    def configs(self) -> list[Message]:
        """Every config announced so far (sent again after a reconnect)."""
        with self._lock:
            return [m for s in self._streams for m in self._stream_messages(s, states=False)]

    def _active_topic(self, stream: str, label: str) -> str:
        return f"{self.topic}/{self._streams[stream]}/{topic_part(label)}/active"

    def _entity(self, stream: str, name: str, object_id: str) -> dict:
        sid = slug(stream)
        return {
            "name": name,
            "unique_id": f"{self.node}_{sid}_{object_id}",
            "availability_topic": f"{self.topic}/available",
            "payload_available": "online",
            "payload_not_available": "offline",
            "device": {
                "identifiers": [f"{self.node}_{sid}"],
                "name": f"lrcn {stream}",
                "manufacturer": "lrcn",
                "model": "video classifier stream",
            },
        }

    def _stream_messages(self, stream: str, states: bool = True) -> list[Message]:
        state = f"{self.topic}/{self._streams[stream]}/state"
        sensor = {
            **self._entity(stream, "label", "label"),
            "state_topic": state,
            "value_template": "{{ value_json.label }}",
            "json_attributes_topic": state,
            "json_attributes_template": (
                "{{ {'probability': value_json.probability, 'uncertain': value_json.uncertain, "
                "'t': value_json.t} | tojson }}"
            ),
            "icon": "mdi:cctv",
        }
        out = [(f"{self.prefix}/sensor/{self.node}/{slug(stream)}_label/config", _json(sensor))]
        for label in self._labels:
            out += self._label_messages(stream, label, states)
        return out

    def _label_messages(self, stream: str, label: str, states: bool = True) -> list[Message]:
        oid = f"{slug(label)}_active"
        config = {
            **self._entity(stream, label, oid),
            "state_topic": self._active_topic(stream, label),
            "payload_on": "ON",
            "payload_off": "OFF",
        }
        out = [(f"{self.prefix}/binary_sensor/{self.node}/{slug(stream)}_{oid}/config", _json(config))]
        return out + [(self._active_topic(stream, label), "OFF")] if states else out


def _json(d: dict) -> str:
    return json.dumps(d, separators=(",", ":"))
