"""The MQTT sink against a real mosquitto broker: every event in order, through a broker restart."""

import json
import time

import pytest
from mqtt_broker import MOSQUITTO, Broker, Subscriber

pytest.importorskip("paho.mqtt.client", reason="paho-mqtt not installed (pip install -e '.[sinks]')")
pytestmark = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto not installed (apt-get install -y mosquitto; .ci/run does it)"
)


def event(i: int, phase: str = "start") -> dict:
    return {"type": "event", "phase": phase, "id": f"r-{i}", "stream": "door", "label": "a", "start": float(i)}


def event_ids(messages) -> list[str]:
    """Event ids in arrival order, QoS 1 duplicates (a resend after a restart) kept once."""
    seen: list[str] = []
    for topic, payload, _ in messages:
        if topic.endswith("/events"):
            i = json.loads(payload)["id"]
            if i not in seen:
                seen.append(i)
    return seen


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


def test_events_arrive_in_order_through_a_broker_restart(broker):
    from lrcn.runtime.sinks import open_sink

    sub = Subscriber(broker.port, ["lrcn/+/events", "lrcn/available"])
    sink = open_sink(f"mqtt://127.0.0.1:{broker.port}/lrcn")
    try:
        assert sub.subscribed.wait(10) and sink.wait_connected(10)
        for i in range(5):
            sink.emit(event(i))
        assert sub.wait_for(lambda m: len(event_ids(m)) == 5)
        deadline = time.monotonic() + 10  # the running summary counts acknowledgements as they come
        while sink.summary.delivered < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sink.summary.delivered == 5
        broker.stop()
        deadline = time.monotonic() + 10
        while sink._connected.is_set() and time.monotonic() < deadline:  # paho notices the closed socket
            time.sleep(0.05)
        t0 = time.perf_counter()
        for i in range(5, 8):  # the broker is down: paho keeps them
            sink.emit(event(i))
        assert time.perf_counter() - t0 < 0.5  # a dead broker does not slow the caller
        broker.start()
        deadline = time.monotonic() + 20  # paho retries after 1, 2, 4 s
        while sink.connects < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert sink.connects == 2, "the sink did not reconnect after the broker restart"
        for i in range(8, 12):
            sink.emit(event(i, "end"))
        assert sub.wait_for(lambda m: len(event_ids(m)) == 12), event_ids(sub.messages)
        assert event_ids(sub.messages) == [f"r-{i}" for i in range(12)]
        s = sink.close(timeout=5)
        assert (s.delivered, s.failed, s.dropped, s.unsent) == (12, 0, 0, 0)
        assert sub.wait_for(lambda m: m and m[-1][:2] == ("lrcn/available", b"offline"))
    finally:
        sink.close(0)
        sub.close()


def test_state_is_retained_and_sent_on_change(broker):
    from lrcn.runtime.sinks import open_sink

    sink = open_sink(f"mqtt://127.0.0.1:{broker.port}/lrcn")
    assert sink.wait_connected(10)
    for label in ("a", "a", "b", "b", "a"):
        sink.emit({"type": "prediction", "stream": "door/1", "t": 0.0, "label": label, "probability": 0.9})
    assert sink.flush(5) and sink.summary.delivered == 3  # acknowledged before close
    s = sink.close(timeout=5)
    assert (s.delivered, s.unsent) == (3, 0)  # a, b, a: only changes are sent
    late = Subscriber(broker.port, ["lrcn/#"])  # subscribes after the fact: gets the retained messages
    try:
        assert late.wait_for(lambda m: len(m) >= 2)
        retained = {t: json.loads(p) if t.endswith("state") else p for t, p, r in late.messages if r}
        assert retained["lrcn/door_1/state"]["label"] == "a" and retained["lrcn/available"] == b"offline"
    finally:
        late.close()


def test_no_broker_counts_unsent_and_returns_in_time():
    from mqtt_broker import free_port

    from lrcn.runtime.sinks import open_sink

    sink = open_sink(f"mqtt://127.0.0.1:{free_port()}/lrcn")
    for i in range(3):
        sink.emit(event(i))
    t0 = time.perf_counter()
    assert sink.flush(0.3) is False  # nothing can be acknowledged: says so, in time
    assert time.perf_counter() - t0 < 2.0
    t0 = time.perf_counter()
    s = sink.close(timeout=0.5)
    assert time.perf_counter() - t0 < 3.0
    assert (s.delivered, s.unsent) == (0, 3) and s.note == "never connected to the broker"
