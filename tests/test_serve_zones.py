"""vc-serve zones and motion gating per stream: a stream with two zones is two streams (`cam/left`,
`cam/right`) with their own events, from one decode; DELETE of `cam` removes both."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import fake_model, write_avi
from serve_fixtures import until

from lrcn.runtime.sources import FileSource

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")


@pytest.mark.timeout(120)
def test_two_zones_are_two_streams_with_their_own_events_from_one_decode(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from lrcn.serve.api import create_app
    from lrcn.serve.config import EventSettings, MotionSettings, ServeConfig, StreamSettings
    from lrcn.serve.service import Service

    decodes = []
    frames = FileSource.frames

    def counted(self):
        decodes.append(self.name)
        yield from frames(self)

    monkeypatch.setattr(FileSource, "frames", counted)
    we, wh = np.array([[1, 0], [1, 0], [1, 0]]), np.array([[4, -4], [0, 0]])
    model = fake_model(tmp_path / "m", classes=("bright", "dark"), latent=2, weights=(we, wh))
    images = []
    for i in range(30):  # left half bright with a moving dark square, right half dark and still
        img = np.full((48, 96, 3), 20, np.uint8)
        img[:, :48] = 230
        img[10:20, i % 30 : i % 30 + 10] = 0
        images.append(img)
    video = write_avi(tmp_path / "cam.avi", images, fps=15)
    sink = tmp_path / "events.jsonl"
    stream = StreamSettings(
        name="cam",
        source=str(video),
        sample_fps=0,
        zones=["left=0,0,0.5,1", "right=0.5,0,1,1"],
        motion=MotionSettings(),
    )
    cfg = ServeConfig(
        model=str(model), device="cpu", threads=1, sinks=[f"jsonl:{sink}"],
        events=EventSettings(threshold=0.5, min_event=0.3, merge_gap=0.5), streams=[stream],
    )  # fmt: skip
    svc = Service(cfg).start()
    try:
        with TestClient(create_app(svc), base_url="http://127.0.0.1") as c:
            names = {s["name"] for s in c.get("/streams").json()["streams"]}
            assert names == {"cam/left", "cam/right"}

            def labels():
                return {(e["stream"], e["label"]) for e in c.get("/events").json()["events"] if e["phase"] == "start"}

            until(lambda: labels() == {("cam/left", "bright"), ("cam/right", "dark")}, 30, "an event per zone")
            right = svc.manager.get("cam/right").handle
            until(lambda: right.stats().processed >= 20, 30, "the right zone runs")
            assert right.stats().gated >= right.stats().processed - 2  # still: gated after its first frame
            assert svc.manager.get("cam/left").handle.stats().gated <= 2  # moving: the CNN runs
            assert c.delete("/streams/cam").status_code == 200
            assert c.get("/streams").json()["streams"] == []
    finally:
        svc.close(3.0)
    assert len(decodes) == 1  # one decode for both zones
    rows = [json.loads(line) for line in sink.read_text().splitlines()]
    assert {r["stream"] for r in rows} == {"cam/left", "cam/right"}


def test_zone_and_motion_settings_are_checked_in_one_line():
    from lrcn.serve.config import ConfigError, ServeConfig, build

    def err(stream: dict) -> str:
        with pytest.raises(ConfigError) as e:
            build(ServeConfig, {"model": "m.onnx", "streams": [{"name": "cam", "source": "0", **stream}]})
        return str(e.value)

    assert "names must differ" in err({"zones": ["a=0,0,1,1", "a=0,0,1,1"]})
    assert err({"zones": ["a=0,0,2,1"]}).startswith("streams[0].zones: ")
    assert "pixel_delta" in err({"motion": {"pixel_delta": 0}})
    assert "unknown key" in err({"motion": {"delta": 3}})
    ok = build(
        ServeConfig,
        {"model": "m.onnx", "streams": [{"name": "c", "source": "0", "motion": {}, "zones": ["d=0,0,0.5,1"]}]},
    )
    assert ok.streams[0].stream_config().motion is not None and ok.streams[0].zone_list()[0].name == "d"


@pytest.mark.timeout(60)
def test_post_streams_with_zones_adds_a_stream_per_zone_and_delete_removes_them(tmp_path):
    from fastapi.testclient import TestClient
    from helpers import MjpegServer
    from serve_fixtures import BLACK, service

    cam = MjpegServer([BLACK], fps=15).start()
    svc, app = service(fake_model(tmp_path / "m"), max_upload_mb=1.0)
    try:
        with TestClient(app) as c:
            body = {"name": "cam", "source": cam.url(), "sample_fps": 0, "zones": ["a=0,0,0.5,1", "b=0.5,0,1,1"]}
            r = c.post("/streams", json={**body, "motion": {"pixel_delta": 20}})
            assert r.status_code == 201 and r.json()["name"] == "cam/a"

            def running():
                return {s["name"]: s["state"] for s in c.get("/streams").json()["streams"]}

            until(lambda: running() == {"cam/a": "running", "cam/b": "running"}, 30, "both zones run")
            # a zone's own routes: the name holds a slash
            assert c.get("/streams/cam/a").json()["name"] == "cam/a"
            assert c.get("/streams/cam%2Fb").json()["name"] == "cam/b"
            assert c.get("/streams/cam/a/events").json() == {"events": []}
            until(lambda: c.get("/streams/cam/b/frame.jpg").status_code == 200, 20, "a zone's frame")
            assert c.get("/streams/cam/b/frame.jpg").content[:2] == b"\xff\xd8"
            assert c.get("/streams/cam/c").status_code == 404 and c.get("/streams/cam/c/events").status_code == 404
            assert c.delete("/streams/cam/a").status_code == 200 and running() == {"cam/b": "running"}
            assert c.post("/streams", json=body).status_code == 409  # the name is taken by its zones
            assert c.post("/streams", json={**body, "zones": ["a=0,0,2,1"]}).status_code == 422
            assert c.delete("/streams/cam").status_code == 200 and running() == {}
    finally:
        svc.close(3.0)
        cam.stop()
