"""Events and sinks in vc-serve: a camera that switches class makes start/end records in /events,
/streams/{name}/events and a jsonl sink, and the sink's deliveries show in /metrics."""

from __future__ import annotations

import json

import pytest
from helpers import MjpegServer, fake_model
from serve_fixtures import BLACK, GREEN, until

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_class_change_makes_events_in_the_api_the_sink_and_the_metrics(tmp_path):
    from fastapi.testclient import TestClient
    from prometheus_client.parser import text_string_to_metric_families

    from lrcn.serve.api import create_app
    from lrcn.serve.config import EventSettings, ServeConfig, StreamSettings
    from lrcn.serve.service import Service

    cam = MjpegServer([BLACK], fps=15).start()
    sink = tmp_path / "events.jsonl"
    cfg = ServeConfig(
        model=str(fake_model(tmp_path / "model")),
        device="cpu",
        threads=1,
        sinks=[f"jsonl:{sink}"],
        events=EventSettings(threshold=0.5, min_event=0.5, merge_gap=0.5),
        streams=[StreamSettings(name="door", source=cam.url(), sample_fps=0)],
    )
    svc = Service(cfg).start()
    try:
        with TestClient(create_app(svc), base_url="http://127.0.0.1") as c:

            def phases():
                events = c.get("/streams/door/events", params={"since": 0}).json()["events"]
                return [(e["phase"], e["label"]) for e in events]

            until(lambda: ("start", "c") in phases(), 30, "an event of c starts")
            cam.jpegs = MjpegServer([GREEN]).jpegs
            until(lambda: phases()[:3] == [("start", "c"), ("end", "c"), ("start", "a")], 30, "c ends, a starts")
            newest = c.get("/events").json()["events"]
            assert (newest[0]["phase"], newest[0]["label"]) == ("start", "a") and newest[0]["seq"] == 3
            assert c.get("/streams/door").json()["events"] == 2
            families = {f.name: f for f in text_string_to_metric_families(c.get("/metrics").text)}
            delivered = [s.value for s in families["lrcn_sink_deliveries"].samples if s.name.endswith("_total")]
            assert delivered and delivered[0] >= 3
    finally:
        svc.close(3.0)
        cam.stop()
    rows = [json.loads(line) for line in sink.read_text().splitlines()]
    assert [(r["phase"], r["label"]) for r in rows][:3] == [("start", "c"), ("end", "c"), ("start", "a")]
    assert rows[-1]["phase"] == "end"  # the open event ended with the service
