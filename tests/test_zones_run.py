"""Zones wired into vc-run: two regions of one camera are two streams with their own predictions and
events, from one decode."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import error_lines, fake_model, vc_run, write_avi

from lrcn.runtime.sources import FileSource


@pytest.fixture(scope="module")
def bright_dark(tmp_path_factory):
    """A model that says `bright` for a bright view and `dark` for a dark one (encoder: pixel mean)."""
    we, wh = np.array([[1, 0], [1, 0], [1, 0]]), np.array([[4, -4], [0, 0]])
    return fake_model(tmp_path_factory.mktemp("bd"), classes=("bright", "dark"), latent=2, weights=(we, wh))


@pytest.fixture(scope="module")
def halves(tmp_path_factory):
    """40 frames: the left half bright with a dark square moving across it, the right half dark and still."""
    frames = []
    for i in range(40):
        img = np.full((48, 96, 3), 20, np.uint8)
        img[:, :48] = 230
        img[10:20, i % 30 : i % 30 + 10] = 0
        frames.append(img)
    return write_avi(tmp_path_factory.mktemp("v") / "cam.avi", frames, fps=10)


def lines(result) -> list[dict]:
    return [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]


def test_two_zones_of_one_camera_are_two_streams_with_their_own_events_from_one_decode(
    bright_dark, halves, monkeypatch
):
    decodes = []
    frames = FileSource.frames

    def counted(self):
        decodes.append(self.name)
        yield from frames(self)

    monkeypatch.setattr(FileSource, "frames", counted)
    r = vc_run(halves, "--model", bright_dark, "--zone", "left=0,0,0.5,1", "--zone", "right=0.5,0,1,1",
               "--events", "--json", "--sample-fps", "0", "--min-event", "0.3")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert len(decodes) == 1  # one decode feeds both zones
    out = lines(r)
    events = {(e["stream"], e["label"], e["phase"]) for e in out if e.get("type") == "event"}
    assert events == {
        (s, lab, ph) for s, lab in (("cam/left", "bright"), ("cam/right", "dark")) for ph in ("start", "end")
    }
    summaries = {e["stream"]: e["summary"] for e in out if "summary" in e}
    assert set(summaries) == {"cam/left", "cam/right"}
    assert all(s["read"] == 40 and s["predictions"] == 37 for s in summaries.values())


def test_zone_predictions_name_the_zone_and_motion_gates_the_still_one(bright_dark, halves):
    r = vc_run(halves, "--model", bright_dark, "--zone", "left=0,0,0.5,1", "--zone", "right=0.5,0,1,1:0.5,0,1,0,1,1",
               "--json", "--sample-fps", "0", "--motion", "on")  # fmt: skip
    assert r.exit_code == 0, r.output
    preds = [p for p in lines(r) if p.get("type") == "prediction"]
    by = {s: [p for p in preds if p["stream"] == s] for s in ("cam/left", "cam/right")}
    assert {p["label"] for p in by["cam/left"]} == {"bright"} and {p["label"] for p in by["cam/right"]} == {"dark"}
    assert all(p["gated"] for p in by["cam/right"]) and not any(p["gated"] for p in by["cam/left"])
    summaries = {e["stream"]: e["summary"] for e in lines(r) if "summary" in e}
    assert summaries["cam/right"]["gated"] == 39 and summaries["cam/left"]["gated"] == 0


@pytest.mark.parametrize(
    "zone,why",
    [("door", "expected name="), ("door=0,0,2,1", "within [0, 1]"), ("a b=0,0,1,1", "zone name")],
)
def test_a_bad_zone_is_one_line_and_exit_2(bright_dark, halves, zone, why):
    r = vc_run(halves, "--model", bright_dark, "--zone", zone)
    assert r.exit_code == 2 and len(error_lines(r)) == 1 and why in r.stderr and "--zone" in r.stderr


def test_twin_zone_names_are_refused(bright_dark, halves):
    r = vc_run(halves, "--model", bright_dark, "--zone", "a=0,0,0.5,1", "--zone", "a=0.5,0,1,1")
    assert r.exit_code == 2 and "names must differ" in r.stderr
