"""vc-run --media: a clip from pre_s before an event to post_s after it and a peak snapshot per event, named
by the event records; retention removes the oldest first."""

from __future__ import annotations

import json
import os
import time

import cv2
import numpy as np
import pytest
from helpers import fake_model
from typer.testing import CliRunner

from lrcn.runtime.event_media import EventMedia, MediaConfig, media_paths
from lrcn.runtime.vcrun.cli import app
from lrcn.train.synth import write_segments

COLOURS = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}  # BGR


def dominant(img: np.ndarray) -> str:
    return ("blue", "green", "red")[int(np.argmax(img.reshape(-1, 3).mean(0)))]


def read_clip(path) -> list[np.ndarray]:
    cap, out = cv2.VideoCapture(str(path)), []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    cap.release()
    return out


@pytest.mark.timeout(120)
def test_vc_run_media_clip_spans_pre_and_post_and_the_snapshot_is_the_peak(tmp_path):
    av = pytest.importorskip("av")
    """A model that answers a frame's colour; red 2 s, green 3 s, blue 2 s at 10 fps: the green event's clip
    starts pre_s (1 s) before it, in red, and ends post_s after it, in blue; its snapshot is green."""
    model = fake_model(
        tmp_path / "m", classes=("red", "green", "blue"), num_frames=1, latent=3, weights=(np.eye(3) * 4,) * 2
    )
    video = tmp_path / "v.avi"
    segs = [
        (c, [np.full((48, 64, 3), COLOURS[c], np.uint8)] * n) for c, n in (("red", 20), ("green", 30), ("blue", 20))
    ]
    write_segments(video, segs, fps=10.0)
    media = tmp_path / "media"
    r = CliRunner().invoke(
        app,
        [str(video), "--model", str(model), "--sample-fps", "0", "--json", "--min-event", "0.5"]
        + ["--media", f"{media}#pre_s=1,post_s=1"],
    )
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith('{"type"')]
    ends = {x["label"]: x for x in rows if x["phase"] == "end"}
    assert sorted(ends) == ["blue", "green", "red"]
    green = ends["green"]
    start_rec = next(x for x in rows if x["phase"] == "start" and x["label"] == "green")
    assert start_rec["clip"] == green["clip"] and start_rec["snapshot"] == green["snapshot"]  # named from the start
    clip = read_clip(media / green["clip"])
    labels = [dominant(f) for f in clip]
    # frames of the clip at 10 fps: 1 s of red before the event, its 3 s of green, 1 s of blue after it
    assert labels[:10] == ["red"] * 10 and labels[-10:] == ["blue"] * 10, labels
    assert labels.count("green") == 30 and len(labels) == 50, " ".join(labels)
    snap = cv2.imread(str(media / green["snapshot"]))
    assert snap is not None and dominant(snap) == "green"
    assert not list(media.rglob("*.part.*"))  # completed files only
    # the last event (blue) ends with the video: its clip has its pre_s and no post_s frames
    assert [dominant(f) for f in read_clip(media / ends["blue"]["clip"])] == ["green"] * 10 + ["blue"] * 20
    assert "media: 3 clip(s), 3 snapshot(s)" in r.stderr
    assert green["clip"] == f"{green['id']}.mp4" and green["snapshot"] == f"{green['id']}.jpg"
    with av.open(str(media / green["clip"])) as c:  # H.264 yuv420p: every browser plays it
        vs = c.streams.video[0]
        assert vs.codec_context.name == "h264" and vs.codec_context.format.name == "yuv420p"
    assert "OpenCV" not in r.stderr and "warn" not in r.stderr.lower()


def test_retention_removes_the_oldest_first_by_size_then_age(tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    now = time.time()
    for i in range(5):  # 5 files of 400 kB, the oldest first
        p = folder / f"e{i}.mp4"
        p.write_bytes(b"x" * 400_000)
        os.utime(p, (now - 100 + i, now - 100 + i))
    (folder / "notes.txt").write_bytes(b"y" * 5_000_000)  # not ours: never counted nor removed
    m = EventMedia(MediaConfig(folder, max_mb=1.0))  # sweeps at start: 2 MB -> at most 1 MB
    m.close()
    assert sorted(p.name for p in folder.iterdir()) == ["e3.mp4", "e4.mp4", "notes.txt"]
    old = folder / "e3.mp4"
    os.utime(old, (now - 3 * 86400, now - 3 * 86400))
    m = EventMedia(MediaConfig(folder, days=2))
    m.close()
    assert sorted(p.name for p in folder.iterdir()) == ["e4.mp4", "notes.txt"]


def test_a_bad_media_spec_is_one_line(tmp_path):
    r = CliRunner().invoke(app, [str(tmp_path / "x.avi"), "--media", f"{tmp_path}#pre_s=-1"])
    assert r.exit_code != 0
    with pytest.raises(ValueError, match="pre_s must be >= 0"):
        MediaConfig.from_spec(f"{tmp_path}#pre_s=-1")
    with pytest.raises(ValueError, match="unknown option"):
        MediaConfig.from_spec(f"{tmp_path}#size=3")


def test_media_files_are_named_only_from_event_ids(tmp_path):
    assert media_paths(tmp_path, "run1-7") == (tmp_path / "run1-7.mp4", tmp_path / "run1-7.jpg")
    for bad in ("../x", "a/b", "", "x" * 65, "a.b", "..", "a b"):
        with pytest.raises(ValueError):
            media_paths(tmp_path, bad)
    m = EventMedia(MediaConfig(tmp_path / "m"), ["a"])
    rec = {"type": "event", "phase": "start", "id": "../evil", "stream": "s", "label": "a", "start": 0.0}
    assert "clip" not in m.annotate(dict(rec))  # no file for an id that is not one
    m.close()
    assert list((tmp_path / "m").iterdir()) == []


def test_memory_is_bounded_by_recent_frames_and_kept_as_jpeg(tmp_path):
    m = EventMedia(MediaConfig(tmp_path / "m", pre_s=1.0), ["a"], hold_s=0.5)
    img = np.zeros((240, 320, 3), np.uint8)
    for i in range(500):  # 50 s at 10 fps, no event
        m.frame("s", i / 10, img)
    recent = m._recent["s"]
    assert len(recent) <= 17  # pre_s + hold_s at 10 fps, and the frame at the edge
    assert all(isinstance(j, bytes) and len(j) < img.nbytes / 10 for _, j, _ in recent)
    m.close()


def test_without_pyav_only_snapshots_and_one_line_says_why(tmp_path, monkeypatch):
    import lrcn.runtime.event_media as em

    monkeypatch.setattr(em, "_load_av", lambda: None)
    m = EventMedia(MediaConfig(tmp_path / "m", pre_s=0.2, post_s=0.2), ["a"])
    assert m.errors == ["clips need PyAV (pip install 'lrcn[media]'): snapshots only"]
    img = np.full((32, 48, 3), (0, 0, 255), np.uint8)
    rec = m.annotate({"type": "event", "phase": "start", "id": "r-1", "stream": "s", "label": "a", "start": 0.0})
    assert rec["clip"] is None and rec["snapshot"] == "r-1.jpg"
    for i in range(5):
        m.frame("s", i / 10, img, np.array([0.9]))
    m.close()
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["r-1.jpg"]
