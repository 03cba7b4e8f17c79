"""`vc-serve --ray` end to end on a real 2-node Ray cluster in private namespaces (slow, root)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO
from helpers import fake_model, write_avi


@pytest.mark.slow
def test_serve_on_a_cluster_survives_a_lost_node(tmp_path):
    """4 loopback cameras served by vc-serve's service and API on a 2-node cluster; the worker node killed:
    every stream predicts again within 10 s, the API shows all four running on the head's node, the moved
    ones say `restarted` in the event stream, and a de-duplicating jsonl sink has every event of the
    head's history once (start and end), none twice."""
    pytest.importorskip("ray")
    pytest.importorskip("fastapi")
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("the Ray cluster tests need root, unshare and ip (a private network namespace)")
    model = fake_model(tmp_path / "model")
    rng = np.random.default_rng(7)
    video = write_avi(tmp_path / "v.avi", [rng.integers(0, 255, (24, 32, 3), dtype=np.uint8) for _ in range(30)])
    sink = tmp_path / "events.jsonl"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, str(REPO / "tests" / "ray_netns.py"), "--nodes", "2", "--cpus", "1", "--timeout", "240"]
    cmd += ["--kill-node-after", "150", "--", sys.executable, str(REPO / "tests" / "ray_serve_run.py")]
    cmd += ["{address}", str(model), str(video), "4", "25", str(sink)]  # the kill comes at about 9 s
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400)
    assert r.returncode == 0 and "ray_netns: killed node pids [" in r.stderr, r.stderr[-3000:]
    recs = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    preds = [x for x in recs if x["type"] == "prediction"]
    snaps = [x for x in recs if x["type"] == "streams"]
    (history,) = [x["events"] for x in recs if x["type"] == "history"]

    restarted = [x for x in history if x.get("type") == "stream" and x["phase"] == "restarted"]
    assert restarted, r.stderr[-3000:]
    kill_t = recs[149]["head_t"]  # ray_netns killed the node once the 150th JSON line went by
    end_t = snaps[-1]["head_t"]
    for cam in (f"cam{i}" for i in range(4)):
        times = sorted(x["head_t"] for x in preds if x["stream"] == cam)
        assert times and times[-1] > kill_t + 5, f"{cam} stopped predicting after the node was lost"
        gaps = [b - a for a, b in zip([times[0], *times], [*times, end_t])]
        assert max(gaps) <= 10.0, f"{cam}: {max(gaps):.1f} s without a prediction"
    placed = [x for x in snaps if len(x["streams"]) == 4 and all(s["node"] for s in x["streams"])]
    before = {s["name"]: s["node"] for s in placed[0]["streams"]}
    after = {s["name"]: (s["state"], s["node"]) for s in snaps[-1]["streams"]}
    assert set(after) == {f"cam{i}" for i in range(4)} and {s for s, _ in after.values()} == {"running"}, after
    assert len({n for _, n in after.values()}) == 1, f"all on the node left: {after}"
    assert len(set(before.values())) == 2, f"placed on both nodes at first: {before}"
    moved = {n for n, node in before.items() if node != next(iter(after.values()))[1]}
    assert {x["stream"] for x in restarted} == moved

    keys = [(x["id"], x["phase"]) for x in map(json.loads, sink.read_text().splitlines())]
    assert len(keys) == len(set(keys)), "a record reached the sink twice"
    assert set(keys) == {(x["id"], x["phase"]) for x in history}, "the sink and the head's history differ"
    events = {i for i, p in keys if p == "start"}
    assert events and all((i, "end") in keys for i in events), "an event started and never ended"
