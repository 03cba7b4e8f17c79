"""`mqtt(s)://[user:password@]host[:port]/topic`: events and the current label to an MQTT broker through paho-mqtt.

`mqtts://` connects over TLS (port 8883 by default) and verifies the broker's certificate against
the system's CAs, or `#ca=PATH`; credentials come from the URL or `#auth_env=VAR` (`user:password`).

Topics (Frigate's layout): `<topic>/<stream>/events` (every start and end record, QoS 1),
`<topic>/<stream>/state` (retained: the current label, sent when it changes), and
`<topic>/available` (retained "online"; the broker's last will and our clean close say "offline").

paho's network loop runs in its own thread and reconnects with backoff on its own; `emit` only
hands a message to paho's queue (bounded by `queue`: a full queue drops the new message, counted),
so a dead broker never slows the caller. Messages queued while the broker is away go out when
it is back. Delivered means acknowledged by the broker (PUBACK) for QoS 1.

`#discovery=homeassistant` also publishes Home Assistant MQTT discovery configs (and the retained
`<topic>/<stream>/<label>/active` states they read): see `lrcn.runtime.sinks.ha_discovery`. Those
messages are the sink's own, like the availability ones: not counted in its summary.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from urllib.parse import unquote, urlsplit

from lrcn.core.errors import LrcnError
from lrcn.runtime.sinks.base import SinkSummary, display_url, parse_options, topic_part, url_credentials


class MqttSink:
    wants_predictions = True

    def __init__(
        self,
        host: str,
        port: int = 1883,
        topic: str = "lrcn",
        *,
        qos: int = 1,
        queue: int = 1000,
        keepalive: int = 15,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        ca: str | None = None,
        discovery: str = "",
    ):
        try:
            import paho.mqtt.client as mqtt
        except ImportError:
            raise LrcnError("the mqtt sink needs paho-mqtt: pip install 'lrcn[sinks]'") from None
        if qos not in (0, 1, 2) or queue < 1:
            raise ValueError("mqtt sink: qos must be 0, 1 or 2 and queue >= 1")
        self._mqtt, self.qos, self.topic = mqtt, qos, topic.strip("/") or "lrcn"
        self.name = f"{'mqtts' if tls else 'mqtt'}://{host}:{port}/{self.topic}"
        """Never the user info: the name is what summaries, warnings and metrics show."""
        self.summary = SinkSummary(self.name)
        self._lock = threading.Lock()
        self._pending: set[int] = set()
        """Message ids handed to paho and not acknowledged yet."""
        self._early: set[int] = set()
        self._own: set[int] = set()
        """Ids of our availability messages, which are not records."""
        """Acknowledged before `publish` returned their id (paho's thread can be that quick)."""
        self._state: dict[str, str | None] = {}
        self._connected = threading.Event()
        self.connects = 0
        self.available = f"{self.topic}/available"
        self._discovery = None
        if discovery:  # the option's value is Home Assistant's discovery prefix
            from lrcn.runtime.sinks.ha_discovery import HomeAssistantDiscovery

            self._discovery = HomeAssistantDiscovery(self.topic, discovery)
        c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"lrcn-{uuid.uuid4().hex[:12]}")
        if username:
            c.username_pw_set(username, password)
        if tls:
            import ssl

            try:
                c.tls_set_context(ssl.create_default_context(cafile=ca))  # verifies the certificate and host name
            except (OSError, ssl.SSLError) as e:
                raise LrcnError(f"--sink {self.name}: cannot use the CA file {ca} ({e})") from None
        c.max_queued_messages_set(queue)
        c.reconnect_delay_set(min_delay=1, max_delay=8)
        c.will_set(self.available, "offline", qos=1, retain=True)
        c.on_connect, c.on_disconnect, c.on_publish = self._on_connect, self._on_disconnect, self._on_publish
        self._client = c
        c.connect_async(host, port, keepalive)
        c.loop_start()

    @classmethod
    def from_spec(cls, spec: str) -> MqttSink:
        url, opts = parse_options(
            spec, {"qos": int, "queue": int, "keepalive": int, "auth_env": str, "ca": str, "discovery": str}
        )
        u = urlsplit(url)
        tls = u.scheme == "mqtts"
        if not u.hostname:
            raise ValueError(f"--sink {display_url(url)}: expected mqtt(s)://host[:port]/topic")
        try:
            port = u.port or (8883 if tls else 1883)
        except ValueError:
            raise ValueError(f"--sink {display_url(url)}: bad port") from None
        username, password = url_credentials(url, opts.pop("auth_env", None))
        return cls(
            u.hostname,
            port,
            unquote(u.path) or "lrcn",
            username=username or None,
            password=password,
            tls=tls,
            **opts,
        )

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self.summary.note = f"broker refused the connection: {reason_code}"
            return
        self.connects += 1
        self._own.add(client.publish(self.available, "online", qos=1, retain=True).mid)  # acked on this thread
        if self._discovery is not None and self.connects > 1:  # a broker restarted without persistence forgot them
            for topic, payload in self._discovery.configs():
                self._own.add(client.publish(topic, payload, qos=1, retain=True).mid)
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:  # `summary` stays current while running (a service reads it)
            if mid in self._own:
                self._own.discard(mid)
            elif mid in self._pending:
                self._pending.discard(mid)
                self.summary.delivered += 1
            else:
                self._early.add(mid)

    def _publish_own(self, topic: str, payload: str) -> None:
        """A retained message of the sink's own (discovery): not a record, not in the summary."""
        info = self._client.publish(topic, payload, qos=1, retain=True)
        if info.rc in (self._mqtt.MQTT_ERR_SUCCESS, self._mqtt.MQTT_ERR_NO_CONN):
            with self._lock:
                if info.mid in self._early:  # acknowledged before we got its id
                    self._early.discard(info.mid)
                else:
                    self._own.add(info.mid)

    def bind_labels(self, labels) -> None:
        """The model's labels (the event router calls this): Home Assistant gets a binary sensor for each."""
        if self._discovery is not None:
            for topic, payload in self._discovery.bind_labels(labels):
                self._publish_own(topic, payload)

    def _publish(self, topic: str, record: dict, retain: bool = False) -> None:
        info = self._client.publish(
            topic, json.dumps(record, separators=(",", ":"), default=str), qos=self.qos, retain=retain
        )
        if info.rc == self._mqtt.MQTT_ERR_QUEUE_SIZE:
            self.summary.dropped += 1
        elif info.rc in (self._mqtt.MQTT_ERR_SUCCESS, self._mqtt.MQTT_ERR_NO_CONN):  # NO_CONN: queued for later
            with self._lock:
                if info.mid in self._early:
                    self._early.discard(info.mid)
                    self.summary.delivered += 1
                else:
                    self._pending.add(info.mid)
        else:
            self.summary.failed += 1
            self.summary.note = f"last error: {self._mqtt.error_string(info.rc)}"

    def emit(self, record: dict) -> None:
        stream = topic_part(str(record.get("stream", "")))
        if self._discovery is not None:
            for topic, payload in self._discovery.on_record(record):
                self._publish_own(topic, payload)
        if record.get("type") == "event":
            self._publish(f"{self.topic}/{stream}/events", record)
        elif record.get("type") == "prediction":
            label = record.get("label")
            if self._state.get(stream) != label:
                self._state[stream] = label
                self._publish(f"{self.topic}/{stream}/state", record, retain=True)

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def flush(self, timeout: float) -> bool:
        """Wait up to `timeout` s until the broker has acknowledged every message sent so far (records
        and discovery's retained ones); True when it has. Publishing is asynchronous: a caller that
        must know the broker holds the state (a test, a process about to exec) asks here."""
        return self._wait_acknowledged(time.monotonic() + max(0.0, timeout), own=True)

    def _wait_acknowledged(self, deadline: float, own: bool) -> bool:
        """Poll until no record (and, with `own`, no message of the sink's own) awaits its ack, or the deadline."""
        while True:
            with self._lock:
                if not self._pending and not (own and self._own):
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def close(self, timeout: float = 2.0) -> SinkSummary:
        """Wait (up to `timeout`) for the broker to acknowledge what was sent, then say offline and stop."""
        deadline = time.monotonic() + max(0.0, timeout)
        self._wait_acknowledged(deadline, own=False)
        if self._connected.is_set():
            info = self._client.publish(self.available, "offline", qos=1, retain=True)
            try:
                info.wait_for_publish(max(0.0, min(0.5, deadline - time.monotonic())) or 0.05)
            except (RuntimeError, ValueError):
                pass
        self._client.disconnect()
        self._client.loop_stop()
        with self._lock:
            self.summary.unsent = len(self._pending)
        if self.connects == 0 and not self.summary.note:
            self.summary.note = "never connected to the broker"
        return self.summary
