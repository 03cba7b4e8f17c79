"""`vc-serve --ray`: the head's side (API, events, sinks, failover records) over a stand-in for the cluster,
and config checks. The real cluster runs in tests/test_serve_ray.py (slow, root)."""

from __future__ import annotations

import json
import threading

import pytest
from helpers import fake_model
from serve_fixtures import TEST_HOST, until

pytest.importorskip("fastapi")


class FakeCluster:
    """Stands where serve.cluster.ClusterStreams does: the test hands records to `on_record` itself,
    as the poll thread would (in order, each id once: what ClusterStreams guarantees)."""

    def __init__(self, on_record):
        self.on_record, self.where, self.cfgs, self.lock = on_record, {}, {}, threading.Lock()
        self.started = self.closed = False

    def add(self, name, target, stream_cfg=None):
        if "unreachable" in target:
            raise RuntimeError(f"cannot open {target}")
        # placed by name, not by arrival: the head opens its streams in threads of their own, so the
        # order of add() calls is not fixed (CI once saw cam1 placed first)
        node = "node-b" if name.endswith("1") else "node-a"
        with self.lock:
            self.where[name], self.cfgs[name] = node, stream_cfg
        return node

    def remove(self, name):
        with self.lock:
            return self.where.pop(name, None) is not None

    def node_of(self, name):
        return self.where.get(name)

    def stats_of(self, name):
        if name not in self.where:
            return None
        return {"read": 30, "processed": 20, "predictions": 17, "seconds": 2.0, "reconnects": 0, "due": 20,
                "latency_p50_ms": 12.0, "latency_p95_ms": 20.0, "live": True, "reconnecting": False,
                "done": False, "error": None}  # fmt: skip

    def start(self):
        self.started = True

    def close(self):
        self.closed = True


def _pred(run, n, stream, t, probs):
    return {"id": f"{run}-{n}", "n": n, "type": "prediction", "stream": stream, "index": n, "t": t,
            "label": "abc"[max(range(3), key=lambda i: probs[i])], "probability": max(probs),
            "uncertain": False, "probs": probs, "captured": 1.7e9 + t, "ms": 3.0, "latency_ms": 9.0}  # fmt: skip


@pytest.fixture
def cluster_service(tmp_path, monkeypatch):
    from lrcn.serve import cluster_manager
    from lrcn.serve.api import create_app
    from lrcn.serve.config import HttpSettings, ServeConfig, StreamSettings
    from lrcn.serve.service import Service

    fakes = []

    def connect(cls, address, spec, **kw):
        assert address == "127.0.0.1:6380" and spec.model.endswith(".onnx")
        mgr = cls(lambda on: fakes.append(FakeCluster(on)) or fakes[-1], **kw)
        return mgr

    monkeypatch.setattr(cluster_manager.ClusterManager, "connect", classmethod(connect))
    sink = tmp_path / "events.jsonl"
    cfg = ServeConfig(
        model=str(fake_model(tmp_path / "m")),
        device="cpu",
        threads=1,
        ray="127.0.0.1:6380",
        sinks=[f"jsonl:{sink}"],
        http=HttpSettings(allowed_hosts=[TEST_HOST]),
        streams=[StreamSettings(name=f"cam{i}", source=f"http://127.0.0.1:9/{i}.mjpg", sample_fps=5) for i in (0, 1)],
    )
    svc = Service(cfg).start()
    try:
        yield svc, create_app(svc), fakes[0], sink
    finally:
        svc.close(2.0)


def test_cluster_streams_on_the_head_api_events_and_failover(cluster_service):
    from fastapi.testclient import TestClient

    svc, app, fake, sink = cluster_service
    client = TestClient(app)
    until(lambda: set(fake.where) == {"cam0", "cam1"}, 5, "the config's streams placed on the cluster")
    assert fake.started and fake.cfgs["cam0"].sample_fps == 5  # the stream's own settings go with it
    body = client.get("/streams").json()["streams"]
    assert {s["name"]: s["node"] for s in body} == {"cam0": "node-a", "cam1": "node-b"}

    # cam1's node predicts "a" for 2 s: an event starts on the head, from the node's probabilities
    for n in range(11):
        fake.on_record(_pred("r1", n, "cam1", 0.2 * n, [0.9, 0.05, 0.05]))
        fake.on_record(_pred("r0", n, "cam0", 0.2 * n, [0.1, 0.1, 0.8]))
    until(lambda: client.get("/streams/cam1").json()["state"] == "running", 5, "cam1 running")
    info = client.get("/streams/cam1").json()
    assert (info["label"], info["probability"], info["frames_read"]) == ("a", 0.9, 30)
    starts = [e for e in client.get("/streams/cam1/events").json()["events"] if e.get("phase") == "start"]
    assert [e["label"] for e in starts] == ["a"]

    # node-b lost: cam1 restarted elsewhere; its open event ends, the record reaches history and sink
    fake.where["cam1"] = "node-a"  # placed again; its actor opens the camera there
    until(lambda: client.get("/streams/cam1").json()["state"] == "starting", 5, "a stream being moved shows starting")
    restart = {"id": "restart-1", "type": "stream", "phase": "restarted", "stream": "cam1",
               "reason": "worker node-b lost (ActorDiedError); now on node-a, its LSTM state starts afresh"}  # fmt: skip
    fake.on_record(restart)
    events = client.get("/streams/cam1/events").json()["events"]
    assert [(e.get("type"), e["phase"]) for e in events][-2:] == [("event", "end"), ("stream", "restarted")]
    assert client.get("/streams/cam1").json()["node"] == "node-a"
    for n in range(11):  # the new actor's run: a new event, under a new id
        fake.on_record(_pred("r2", n, "cam1", 0.2 * n, [0.9, 0.05, 0.05]))
    starts = lambda: [e for e in client.get("/streams/cam1/events").json()["events"] if e["phase"] == "start"]  # noqa: E731
    until(lambda: len(starts()) == 2, 5, "a second event of cam1, on its new node")
    assert starts()[0]["id"] != starts()[1]["id"]

    r = client.get("/streams/cam0/frame.jpg")
    assert r.status_code == 404 and "not available on a cluster" in r.json()["error"]
    metrics = client.get("/metrics").text
    assert 'lrcn_predictions_total{stream="cam0"} 17.0' in metrics
    r = client.post("/streams", json={"name": "z", "source": "http://127.0.0.1:9/z", "zones": ["d=0,0,0.5,0.5"]})
    assert r.status_code == 422 and "zones" in r.json()["error"]
    r = client.post("/streams", json={"name": "bad", "source": "http://127.0.0.1:9/unreachable"})
    assert r.status_code == 201
    until(lambda: client.get("/streams/bad").json()["state"] == "failed", 5, "an unopenable stream failed")
    assert "cannot open" in client.get("/streams/bad").json()["error"]
    assert client.delete("/streams/cam0").status_code == 200 and "cam0" not in fake.where
    r = client.post("/model", json={"path": svc.cfg.model})
    assert r.status_code == 409 and "cluster" in r.json()["error"]

    svc.close(2.0)
    lines = [json.loads(x) for x in sink.read_text().splitlines()]
    keys = [(x["id"], x["phase"]) for x in lines]
    assert len(keys) == len(set(keys)), "a record reached the sink twice"
    assert ("restart-1", "restarted") in keys
    ids = {x["id"] for x in lines if x.get("type") == "event"}
    assert len(ids) == 3 and all((i, "start") in keys and (i, "end") in keys for i in ids)


def test_ray_config_checked(tmp_path):
    from lrcn.serve.config import ConfigError, load

    model = fake_model(tmp_path / "m")
    for text, problem in (
        ("ray: nowhere", "ray: must be local, auto or HOST:PORT"),
        ("ray: auto\nmedia: {folder: m}", "media: not available with ray"),
        ("ray: local\nstreams: [{name: a, source: '0', zones: ['d=0,0,1,1']}]", "streams[0].zones: not available"),
    ):
        p = tmp_path / "c.yaml"
        p.write_text(f"model: {model}\n{text}\n")
        with pytest.raises(ConfigError, match=problem.replace("[", r"\[").replace("]", r"\]")):
            load(p)
    p.write_text(f"model: {model}\nray: ' 127.0.0.1:6380 '\n")
    assert load(p).ray == "127.0.0.1:6380"


def test_cli_ray_flag_checked_before_anything_starts(tmp_path):
    from typer.testing import CliRunner

    from lrcn.serve.cli import app

    model = str(fake_model(tmp_path / "m"))
    r = CliRunner().invoke(app, ["--model", model, "--ray", "nowhere"])
    assert r.exit_code == 2 and "ray: must be local, auto or HOST:PORT" in r.output
    r = CliRunner().invoke(app, ["--model", model, "--ray"])  # a bare --ray, as vc-run: refused
    assert r.exit_code == 2
