"""Home Assistant MQTT discovery from the MQTT sink, against a real mosquitto: retained configs that parse
and point at topics that then carry state, and availability offline when the sink's process dies."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO
from mqtt_broker import MOSQUITTO, Broker, Subscriber

from lrcn.runtime.sinks.ha_discovery import HomeAssistantDiscovery, slug

pytest.importorskip("paho.mqtt.client", reason="paho-mqtt not installed (pip install -e '.[sinks]')")
needs_broker = pytest.mark.skipif(
    MOSQUITTO is None, reason="mosquitto not installed (apt-get install -y mosquitto; .ci/run does it)"
)

# The sink's process: labels a, b; stream "door 1" sees label a for 2 s (an event), then b for 2 s (an event
# still open when it stops sending), then idles until killed.
CHILD = textwrap.dedent(
    """
    import sys, time
    from types import SimpleNamespace
    from lrcn.runtime.events import EventConfig
    from lrcn.runtime.run_events import EventRouter
    from lrcn.runtime.sinks import open_sink

    sink = open_sink(sys.argv[1])
    assert sink.wait_connected(10)
    router = EventRouter(["a", "b"], EventConfig(threshold=0.6, min_event=0.5, merge_gap=0.5), [sink])
    for k in range(40):
        pa = 0.9 if k < 20 else 0.1
        p = SimpleNamespace(probs=[pa, 1 - pa], t=k * 0.1, label="a" if pa > 0.5 else "b",
                            probability=max(pa, 1 - pa), uncertain=False)
        router.prediction(p, stream="door 1", live=True)
    assert sink.flush(10)  # the broker holds every state before the late subscriber asks for it
    print("sent", flush=True)
    time.sleep(60)  # the test kills us: the broker's last will says offline
    """
)


def retained(messages, prefix: str) -> dict[str, bytes]:
    return {t: p for t, p, r in messages if r and t.startswith(prefix)}


def test_configs_name_unique_ids_and_state_topics_without_a_broker():
    d = HomeAssistantDiscovery("lrcn", "homeassistant", ["a", "b/c"])
    first = d.on_record({"type": "prediction", "stream": "door 1", "label": "a", "probability": 0.9})
    configs = {t: json.loads(p) for t, p in first if t.endswith("/config")}
    assert len(configs) == 3  # the label sensor, one binary sensor per label
    assert all(t.startswith("homeassistant/") and t.count("/") == 4 for t in configs)
    assert all(
        re.fullmatch(r"homeassistant/(sensor|binary_sensor)/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+/config", t) for t in configs
    )
    assert len({c["unique_id"] for c in configs.values()}) == 3
    assert {c["state_topic"] for c in configs.values()} == {
        "lrcn/door 1/state",
        "lrcn/door 1/a/active",
        "lrcn/door 1/b_c/active",
    }
    assert dict(m for m in first if not m[0].endswith("/config")) == {
        "lrcn/door 1/a/active": "OFF",
        "lrcn/door 1/b_c/active": "OFF",
    }
    assert d.on_record({"type": "prediction", "stream": "door 1", "label": "b"}) == []  # announced once
    assert d.on_record({"type": "event", "phase": "start", "stream": "door 1", "label": "a"}) == [
        ("lrcn/door 1/a/active", "ON")
    ]
    new = d.on_record(
        {"type": "event", "phase": "end", "stream": "door 1", "label": "z"}
    )  # a label not bound: announced
    assert [t for t, _ in new][-1] == "lrcn/door 1/z/active" and new[-1][1] == "OFF"
    assert any(t.endswith("/config") and json.loads(p)["state_topic"] == "lrcn/door 1/z/active" for t, p in new)
    assert slug("door 1") != slug("door_1")  # names that collide once cleaned stay two entities


@needs_broker
@pytest.mark.timeout(90)
def test_discovery_on_a_real_broker_state_and_last_will(tmp_path):
    broker = Broker(tmp_path / "broker").start()
    live = Subscriber(broker.port, ["homeassistant/#", "lrcn/#"])
    child = None
    try:
        assert live.subscribed.wait(10)
        spec = f"mqtt://127.0.0.1:{broker.port}/lrcn#discovery=homeassistant"
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, spec], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert child.stdout.readline().strip() == "sent", child.stderr.read()[-2000:]
        late = Subscriber(broker.port, ["homeassistant/#", "lrcn/#"], name="late")  # after the fact: what is retained
        try:
            assert late.wait_for(lambda m: len(retained(m, "homeassistant/")) == 3), late.messages
            configs = {t: json.loads(p) for t, p in retained(late.messages, "homeassistant/").items()}
            assert sorted(t.split("/")[1] for t in configs) == ["binary_sensor", "binary_sensor", "sensor"]
            for c in configs.values():
                assert c["availability_topic"] == "lrcn/available" and c["device"]["identifiers"]
            by_name = {c["name"]: c["state_topic"] for c in configs.values()}
            assert late.wait_for(lambda m: set(by_name.values()) <= set(retained(m, "lrcn/")))
            state = retained(late.messages, "lrcn/")
            assert json.loads(state[by_name["label"]])["label"] == "b"  # the current label, from the sink's state
            assert state[by_name["a"]] == b"OFF" and state[by_name["b"]] == b"ON"  # a's event ended, b's is open
            assert state["lrcn/available"] == b"online"
        finally:
            late.close()
        # the topic a's binary sensor reads went OFF (announced), ON (event start), OFF (event end)
        assert live.wait_for(lambda m: [p for t, p, _ in m if t == by_name["a"]] == [b"OFF", b"ON", b"OFF"]), [
            (t, p) for t, p, _ in live.messages if t == by_name["a"]
        ]
        child.send_signal(signal.SIGKILL)  # no clean close: the broker's last will speaks
        child.wait(10)
        assert live.wait_for(lambda m: m[-1][:2] == ("lrcn/available", b"offline"), 20), live.messages[-3:]
    finally:
        live.close()
        if child is not None and child.poll() is None:
            child.kill()
        broker.stop()
