"""`vc-serve --ray` building blocks: the stream actor's work (run here without Ray) and the head's placement."""

from __future__ import annotations

import time

import numpy as np
import pytest
from helpers import fake_model, write_avi

from lrcn.runtime.parallel import WorkerSpec
from lrcn.runtime.ray_streams import Placement, StreamWorker
from lrcn.runtime.stream import StreamConfig


def test_placement_round_robin_and_failover():
    p = Placement(workers=["w0", "w1"])
    assert [p.place(f"cam{i}", f"http://127.0.0.1/{i}") for i in range(4)] == ["w0", "w1", "w0", "w1"]
    started = []
    moved = p.lost("w1", "node died", lambda w, n, t: started.append((w, n, t)))
    assert started == [("w0", "cam1", "http://127.0.0.1/1"), ("w0", "cam3", "http://127.0.0.1/3")]
    assert [m["stream"] for m in moved] == ["cam1", "cam3"]
    assert all(m["type"] == "stream" and m["phase"] == "restarted" and "afresh" in m["reason"] for m in moved)
    assert len({m["id"] for m in moved}) == 2
    assert set(p.where.values()) == {"w0"}
    with pytest.raises(RuntimeError, match="no worker alive"):
        Placement().place("cam9", "x")


def test_worker_predicts_with_run_scoped_ids(tmp_path):
    model = fake_model(tmp_path / "model")
    rng = np.random.default_rng(3)
    clip = write_avi(tmp_path / "c.avi", [rng.integers(0, 255, (24, 32, 3), dtype=np.uint8) for _ in range(12)])
    spec = WorkerSpec(str(model), "cpu", 1, 3, 10.0, 1)
    a, b = (StreamWorker(spec, StreamConfig(realtime=False)) for _ in range(2))
    assert a.run != b.run
    a.add("cam0", str(clip))
    got: list[dict] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (a.loop is None or a.loop.is_alive() or a.queue):
        after = got[-1]["n"] if got else -1
        batch = a.poll(after)
        assert a.poll(after)[: len(batch)] == batch  # nothing dropped before the head acknowledged it
        got += batch
        time.sleep(0.05)
    assert got, "no prediction came back"
    assert all(r["stream"] == "cam0" and r["label"] in ("a", "b", "c") for r in got)
    ids = [r["id"] for r in got]
    assert len(set(ids)) == len(ids) and all(i.startswith(a.run + "-") for i in ids)
    assert a.poll(got[-1]["n"]) == []
