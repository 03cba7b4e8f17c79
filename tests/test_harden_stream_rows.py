"""Issue 26, findings 9 and 17: a vc-run stream of days keeps no per-prediction rows and no ended events.

Rows went into a list for the whole run even without --csv (about 1 KB each: 1.3 GB a day per camera),
and every ended event stayed in the detector. Now rows go to the CSV as they come (still atomic at the
target), none is kept without --csv, and vc-run's event printer keeps no ended event.
"""

from __future__ import annotations

import gc
import json
from types import SimpleNamespace

import numpy as np
from helpers import vc_run, write_avi

from lrcn.runtime.classifier import VideoClassifier
from lrcn.runtime.events import EventConfig, EventDetector
from lrcn.runtime.stream import StreamConfig
from lrcn.runtime.vcrun import run_stream
from lrcn.runtime.vcrun.event_output import EventPrinter


def _clip(tmp_path, n=40):
    return write_avi(tmp_path / "long.avi", [np.full((24, 32, 3), (7 * i) % 255, np.uint8) for i in range(n)])


def _kept_rows(stream: str) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, dict) and o.get("stream") == stream and "top_k" in o)


def test_stream_mode_keeps_no_prediction_row_without_csv(tmp_path, fake, monkeypatch):
    """The old run_streams returned every row it had kept (N here); now it keeps none."""
    printed = []
    monkeypatch.setattr(run_stream, "stream_line", lambda row, out: printed.append(row["frame"]))
    clf = VideoClassifier(fake, device="cpu")
    targets = run_stream.open_targets([str(_clip(tmp_path))], reconnect=0)
    result = run_stream.run_streams(clf, targets, StreamConfig(sample_fps=0))
    assert len(printed) >= 30  # every frame from the 4th on made a prediction
    assert _kept_rows("long") == 0
    del result


def test_stream_rows_go_to_the_csv_as_they_come_and_replace_it_at_the_end(tmp_path, fake, monkeypatch):
    csv = tmp_path / "out.csv"
    csv.write_text("the earlier file\n")
    during = []
    real = run_stream.stream_line

    def watch(row, out):
        during.append(csv.read_text())  # the target stays the earlier file, whole, while the run goes on
        real(row, out)

    monkeypatch.setattr(run_stream, "stream_line", watch)
    r = vc_run(_clip(tmp_path), "--model", fake, "--device", "cpu", "--stream", "--sample-fps", "0", "--csv", csv)
    assert r.exit_code == 0, r.output
    assert len(during) >= 30 and set(during) == {"the earlier file\n"}
    lines = csv.read_bytes().decode().split("\r\n")
    assert lines[0].startswith("source,label") and len([x for x in lines[1:] if x]) == len(during)
    assert f"replaced {csv}" in r.stderr
    assert not list(tmp_path.glob(".out.csv.*.tmp"))


def test_a_failed_stream_run_leaves_an_earlier_csv_whole(tmp_path, fake):
    csv = tmp_path / "out.csv"
    csv.write_text("the earlier file\n")
    r = vc_run(_clip(tmp_path), "--model", tmp_path / "no-model.onnx", "--stream", "--csv", csv)
    assert r.exit_code == 1 and csv.read_text() == "the earlier file\n"
    assert not list(tmp_path.glob(".out.csv.*.tmp"))


def _pred(p_a: float, t: float):
    return SimpleNamespace(
        probs=np.array([p_a, 1 - p_a]), t=t, label="a", probability=p_a, uncertain=False, stream="door"
    )


def test_vc_runs_event_printer_keeps_no_ended_event(capsys):
    """The old detector appended every ended event to a list for the whole run."""
    printer = EventPrinter(EventConfig(min_event=0.0, merge_gap=0.0), json_out=True).bind(["a", "b"])
    for i in range(2000):  # 1000 events of "a" (and of "b"), each ending at the next prediction
        printer.prediction(_pred(1.0 if i % 2 else 0.0, i * 0.1), live=True)
    printer.close(0.0)
    ends = [json.loads(x) for x in capsys.readouterr().out.splitlines() if '"phase":"end"' in x]
    assert len(ends) >= 1990  # every event was still printed as it ended
    assert printer.router is not None and len(printer.router.detector.events) == 0
    assert printer.router.detector.ended == len(ends)


def test_the_detector_keeps_all_for_a_timeline_or_the_newest_n():
    det = EventDetector(["a", "b"], EventConfig(min_event=0.0, merge_gap=0.0), keep=5)
    for i in range(100):
        det.update("s", [1.0 if i % 2 else 0.0, 0.0 if i % 2 else 1.0], i * 0.1)
    det.finish("s")
    assert len(det.events) == 5 and det.ended == 100 and det.events[-1].end == 9.9
    assert len(EventDetector(["a"], keep=None).events) == 0
