"""One prediction record (issue 25): a `vc-run --json` stream row, a sink's prediction record (vc-run's
--sink) and vc-serve's (its per-stream router) have the same keys, and for the same frame the same values."""

from __future__ import annotations

import json
from types import SimpleNamespace

from helpers import vc_run
from test_timeline import colour_model, long_video  # noqa: F401 - fixtures

from lrcn.runtime import PREDICTION_KEYS, EventConfig, VideoClassifier, open_sinks, prediction_record
from lrcn.serve.service import StreamEvents

SAME = ("type", "frame", "t", "wall", "label", "probability", "uncertain", "top_k")
"""What one prediction's records agree on wherever they come from (the rest: names, timings)."""


def _jsonl(path) -> list[dict]:
    return [r for r in map(json.loads, path.read_text().splitlines()) if r["type"] == "prediction"]


def test_vc_run_json_rows_the_sinks_and_the_service_send_one_record(colour_model, long_video, tmp_path):  # noqa: F811
    path, _ = long_video
    args = (path, "--model", colour_model, "--stream", "--device", "cpu", "--json")
    r = vc_run(*args)
    assert r.exit_code == 0, r.output
    rows = [x for x in map(json.loads, r.stdout.splitlines()) if "summary" not in x]  # the end line is a summary

    sink = tmp_path / "vc-run.jsonl"
    r = vc_run(*args, "--events", "--sink", f"jsonl:{sink}#predictions=1")
    assert r.exit_code == 0, r.output
    sunk = _jsonl(sink)

    served_sink = tmp_path / "vc-serve.jsonl"  # vc-serve: each stream's predictions through StreamEvents
    clf = VideoClassifier(colour_model)
    events = StreamEvents(clf.class_names, open_sinks([f"jsonl:{served_sink}#predictions=1"]), history=lambda r: None)
    handle = SimpleNamespace(id=1, events=EventConfig(), live=False)
    entry = SimpleNamespace(handle=handle, settings=SimpleNamespace(name="door"))
    for pred in clf.stream(str(path)):
        events(entry, pred)
    for router in events.routers.values():
        router.close()
    served = _jsonl(served_sink)

    assert len(rows) == len(sunk) == len(served) == 40  # 8 s at the model's 5 fps
    for records in (rows, sunk, served):
        assert [list(x) for x in records] == [list(PREDICTION_KEYS)] * 40  # same keys, same order
    for a, b, c in zip(rows, sunk, served):
        assert [a[k] for k in SAME] == [b[k] for k in SAME] == [c[k] for k in SAME], (a, b, c)
    assert rows[0]["stream"] == sunk[0]["stream"] == "long" and served[0]["stream"] == "door"
    assert rows[0]["wall"] is None and rows[0]["top_k"][0][0] == rows[0]["label"] == "red"


def test_a_record_from_any_engine_has_every_key_and_a_live_one_a_wall_time():
    pred = SimpleNamespace(t=1.23456, label="a", probability=0.5, uncertain=False)
    rec = prediction_record(pred, stream="cam", live=True)
    assert list(rec) == list(PREDICTION_KEYS)
    assert rec["stream"] == "cam" and rec["t"] == 1.235 and rec["frame"] == -1 and rec["top_k"] == []
    assert rec["wall"] > 1e9 and prediction_record(pred)["wall"] is None  # files: no wall-clock time
