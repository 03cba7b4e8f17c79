"""Timelines of long videos: events equal the known segments of a concatenated video, files in three
formats, the HTML page in headless Chromium; the synthetic generator's long videos."""

import csv
import json

import numpy as np
import pytest
from helpers import fake_model
from typer.testing import CliRunner

from lrcn.runtime.vcrun.cli import app
from lrcn.train.synth import write_segments

runner = CliRunner()
COLOURS = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}  # BGR
STEP = 0.2  # the fake model's sampling rate is 5 fps


@pytest.fixture(scope="module")
def colour_model(tmp_path_factory):
    """A model that answers the dominant colour of one frame (window of 1): its answer is known at every
    frame, so the test checks event boundaries, not a model's accuracy."""
    eye = np.eye(3) * 4
    return fake_model(
        tmp_path_factory.mktemp("colour"), classes=("red", "green", "blue"), num_frames=1, latent=3, weights=(eye, eye)
    )


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """Segments of known colours, 2 s each at 10 fps, written as one video: the known segments are returned."""
    path = tmp_path_factory.mktemp("long") / "long.avi"
    order = ["red", "green", "blue", "red"]
    segments = [(c, [np.full((48, 48, 3), COLOURS[c], np.uint8)] * 20) for c in order]
    return path, write_segments(path, segments, fps=10.0)


def test_timeline_events_match_the_known_segments(colour_model, long_video, tmp_path):
    path, known = long_video
    assert [(k["label"], k["start"], k["end"]) for k in known] == [
        ("red", 0.0, 2.0),
        ("green", 2.0, 4.0),
        ("blue", 4.0, 6.0),
        ("red", 6.0, 8.0),
    ]
    out = tmp_path / "t.json"
    r = runner.invoke(app, [str(path), "--model", str(colour_model), "--timeline", str(out), "--json"])
    assert r.exit_code == 0, r.output
    tl = json.loads(out.read_text())
    assert [e["label"] for e in tl["events"]] == [k["label"] for k in known]
    for e, k in zip(tl["events"], known):  # each boundary within one sampling step
        assert abs(e["start"] - k["start"]) <= STEP + 1e-6 and abs(e["end"] - k["end"]) <= STEP + 1e-6, (e, k)
        assert e["peak"] > 0.99 and e["predictions"] == 10
    assert tl["duration"] == pytest.approx(8.0) and tl["window_s"] == 0.0  # a window of one frame
    assert [s["label"] for s in tl["seconds"]] == ["red"] * 2 + ["green"] * 2 + ["blue"] * 2 + ["red"] * 2
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [(x["phase"], x["label"]) for x in rows if x.get("type") == "event"] == [
        (p, k["label"]) for k in known for p in ("start", "end")
    ]


def test_timeline_csv_and_bad_arguments(colour_model, long_video, tmp_path):
    path, known = long_video
    out = tmp_path / "t.csv"
    r = runner.invoke(app, [str(path), "--model", str(colour_model), "--timeline", str(out), "--min-event", "0.5"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(out.open()))
    assert [(x["label"], float(x["start"])) for x in rows if x["kind"] == "event"] == [
        (k["label"], k["start"]) for k in known
    ]
    assert len([x for x in rows if x["kind"] == "second"]) == 8
    assert "end   red  6.00s to 7.80s (1.80 s), peak 1.000" in r.stdout  # the human event lines
    for args, msg in (
        (["--timeline", str(tmp_path / "t.txt")], "must end in .html, .json, .csv"),
        (["--timeline", str(tmp_path / "t.html"), str(path)], "takes one video file"),
        (["--timeline", str(tmp_path / "t.html"), "--csv", "x.csv"], "use --timeline out.csv"),
    ):
        r = runner.invoke(app, [str(path), "--model", str(colour_model), *args])
        assert r.exit_code == 2 and msg in r.output, r.output
    r = runner.invoke(
        app, [str(tmp_path / "missing.avi"), "--model", str(colour_model), "--timeline", str(tmp_path / "t.html")]
    )
    assert r.exit_code == 1 and "no such file" in r.output


def test_timeline_html_renders_in_chromium(colour_model, long_video, tmp_path):
    from helpers import launch_chromium, playwright_or_skip
    from test_report_browser import open_offline

    path, known = long_video
    out = tmp_path / "t.html"
    r = runner.invoke(app, [str(path), "--model", str(colour_model), "--timeline", str(out)])
    assert r.exit_code == 0, r.output
    text = out.read_text()
    assert "<script" not in text and "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    sync_api = playwright_or_skip()
    with sync_api.sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page, outside, errors = open_offline(browser, out)
            assert outside == [] and errors == []
            assert page.title() == f"lrcn timeline: {path}"
            box = page.locator("svg").bounding_box()
            assert box["width"] > 500 and box["height"] > 200  # laid out, not collapsed
            assert page.locator("rect.event").count() == len(known)
            assert page.locator("rect.second").count() == 8
            assert page.locator("polyline.curve").count() == 3
            cells = page.locator("tbody tr td:first-child").all_inner_texts()
            assert cells == [k["label"] for k in known]
        finally:
            browser.close()


def test_vc_data_long_writes_known_segments(tmp_path):
    import cv2

    from lrcn.train.data_cli import app as data_app

    out = tmp_path / "long.avi"
    r = runner.invoke(
        data_app, ["long", str(out), "--classes", "move_left,grow,move_right", "--seconds", "1", "--size", "48"]
    )
    assert r.exit_code == 0, r.output
    known = json.loads((tmp_path / "long.avi.segments.json").read_text())
    assert known == [
        {"label": "move_left", "start": 0.0, "end": 1.0},
        {"label": "grow", "start": 1.0, "end": 2.0},
        {"label": "move_right", "start": 2.0, "end": 3.0},
    ]
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 90 and cap.get(cv2.CAP_PROP_FPS) == pytest.approx(30.0)
    cap.release()
    r = runner.invoke(data_app, ["long", str(out), "--classes", "move_left,jump"])
    assert r.exit_code == 2 and "jump" in r.output
