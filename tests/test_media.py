"""Event media: clips from pre_s before an event to post_s after it, snapshots of the peak, retention."""

import os
import time

import cv2
import numpy as np
import pytest

from lrcn.runtime.events import EventConfig
from lrcn.runtime.media import EventMedia, MediaConfig, media_paths, prune_media
from lrcn.runtime.run_events import EventRouter

LABELS = ["idle", "wave"]


class P:
    """A prediction as the router reads it."""

    def __init__(self, t, probs):
        self.t, self.probs = t, np.asarray(probs, np.float32)
        i = int(self.probs.argmax())
        self.label, self.probability, self.uncertain = LABELS[i], float(self.probs[i]), False


def frame_at(t: float) -> np.ndarray:
    """A 96x64 frame whose brightness encodes its time (t * 20, so frames are told apart after JPEG)."""
    return np.full((64, 96, 3), min(255, int(t * 20)), np.uint8)


def play(media: EventMedia, router: EventRouter, wave: tuple[float, float], until: float, fps: float = 10.0):
    """One stream at `fps`: 'wave' above threshold inside `wave` (peak 0.95 at its middle)."""
    records = []
    n = int(until * fps)
    mid = (wave[0] + wave[1]) / 2
    for i in range(n + 1):
        t = i / fps
        media.frame("cam", t, frame_at(t))
        p = 0.95 if abs(t - mid) < 1e-6 else 0.8
        probs = [1 - p, p] if wave[0] <= t <= wave[1] else [0.9, 0.1]
        pred = P(t, probs)
        media.prediction("cam", t, pred.probs)
        records += [media.record(r) for r in router.prediction(pred, stream="cam")]
    return records


def decoded_frames(path):
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, img = cap.read()
        if not ok:
            break
        out.append(img)
    cap.release()
    return out


def test_an_event_yields_a_clip_from_pre_s_before_its_start_and_a_snapshot_of_its_peak(tmp_path):
    pytest.importorskip("av")
    media = EventMedia(MediaConfig(tmp_path / "m", pre_s=2.0, post_s=1.0, fps=10), LABELS, start_delay_s=0.5)
    router = EventRouter(LABELS, EventConfig(threshold=0.5, min_event=0.5, merge_gap=0.3), run_id="r")
    records = play(media, router, wave=(4.0, 6.0), until=9.0)
    counts = media.close()
    starts = [r for r in records if r["phase"] == "start" and r["label"] == "wave"]
    assert len(starts) == 1
    eid = starts[0]["id"]
    assert starts[0]["clip"] == f"{eid}.mp4" and starts[0]["snapshot"] == f"{eid}.jpg"
    clip, snap = media_paths(tmp_path / "m", eid)
    assert counts.failed == 0 and clip.exists() and snap.exists(), counts.notes
    frames = decoded_frames(clip)
    # 2.0 s before the start (4.0) to 1.0 s after the end (6.0) at 10 fps: t = 2.0 .. 7.0
    assert len(frames) == 51
    first, last = frames[0].mean() / 20, frames[-1].mean() / 20
    assert first == pytest.approx(2.0, abs=0.15) and last == pytest.approx(7.0, abs=0.15)
    peak = cv2.imread(str(snap))
    assert peak.mean() / 20 == pytest.approx(5.0, abs=0.15)  # the frame of the 0.95 prediction
    head = clip.read_bytes()[:4096]
    assert head[4:8] == b"ftyp" and b"moov" in head  # MP4, faststart: the index before the media data


def test_the_clip_is_h264_yuv420p_for_browsers(tmp_path):
    av = pytest.importorskip("av")
    media = EventMedia(MediaConfig(tmp_path, pre_s=0.5, post_s=0.5), LABELS)
    router = EventRouter(LABELS, EventConfig(min_event=0.2, merge_gap=0.2), run_id="q")
    play(media, router, wave=(1.0, 2.0), until=3.0)
    media.close()
    with av.open(str(next(tmp_path.glob("q-*.mp4")))) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p"


def test_a_stream_that_ends_writes_what_its_events_have(tmp_path):
    pytest.importorskip("av")
    media = EventMedia(MediaConfig(tmp_path, pre_s=1.0, post_s=5.0), LABELS, start_delay_s=0.2)
    router = EventRouter(LABELS, EventConfig(min_event=0.2, merge_gap=0.2), run_id="s")
    play(media, router, wave=(1.0, 3.0), until=3.0)  # ends inside the event
    for r in router.end("cam"):
        media.record(r)
    media.end_stream("cam")
    media.close()
    wave = next(r for r in router.detector.events if r.label == "wave")
    assert len(decoded_frames(tmp_path / f"{wave.id}.mp4")) == 31  # t = 0.0 .. 3.0: the ring had 1 s before 1.0


def test_memory_is_bounded_by_the_ring_and_max_event(tmp_path):
    media = EventMedia(MediaConfig(tmp_path, pre_s=1.0, post_s=0.5, fps=10, max_event_s=2.0), LABELS)
    router = EventRouter(LABELS, EventConfig(min_event=0.2, merge_gap=0.2), run_id="b")
    for i in range(200):
        media.frame("cam", i / 10, frame_at(0))
    assert len(media._rings["cam"]) == 12  # noqa: SLF001 - the bound is the point of this test
    play(media, router, wave=(0.5, 30.0), until=20.0)
    rec = next(iter(media._open["cam"].values()))  # noqa: SLF001
    assert len(rec.frames) <= 12 + 21 + 1  # pre_s + max_event_s at 10 fps
    media.close()


def test_wide_frames_are_shrunk_and_frames_beyond_fps_are_not_kept(tmp_path):
    media = EventMedia(MediaConfig(tmp_path, fps=5, max_width=320), LABELS)
    for i in range(25):  # 25 fps for one second
        media.frame("cam", i / 25, np.zeros((720, 1280, 3), np.uint8))
    ring = media._rings["cam"]  # noqa: SLF001
    assert len(ring) == 5
    img = cv2.imdecode(np.frombuffer(ring[0].jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape == (180, 320, 3)
    media.close()


def test_retention_removes_the_oldest_first_by_size_and_age(tmp_path):
    now = time.time()
    for i in range(5):
        p = tmp_path / f"r-{i}.mp4"
        p.write_bytes(b"x" * 1000)
        os.utime(p, (now - 100 + i, now - 100 + i))
    (tmp_path / "notes.txt").write_bytes(b"y" * 5000)  # not media: never touched
    os.symlink(tmp_path / "notes.txt", tmp_path / "r-9.jpg")  # a link is not followed nor counted
    assert prune_media(tmp_path, None, 3000, now=now) == 2
    assert sorted(p.name for p in tmp_path.glob("r-*.mp4")) == ["r-2.mp4", "r-3.mp4", "r-4.mp4"]
    os.utime(tmp_path / "r-2.mp4", (now - 9 * 86400, now - 9 * 86400))
    assert prune_media(tmp_path, 7, None, now=now) == 1
    assert (tmp_path / "notes.txt").exists() and (tmp_path / "r-9.jpg").is_symlink()


def test_media_files_are_named_only_from_event_ids(tmp_path):
    with pytest.raises(ValueError):
        media_paths(tmp_path, "../../etc/passwd")
    media = EventMedia(MediaConfig(tmp_path), LABELS)
    rec = {"type": "event", "phase": "start", "id": "../x", "stream": "cam", "label": "wave", "start": 0.0}
    assert media.record(rec) == rec  # untouched: no clip for a record whose id is not an event id
    media.close()


@pytest.mark.parametrize("bad", [dict(pre_s=-1), dict(fps=0), dict(max_width=8), dict(keep_bytes=0)])
def test_config_is_checked(tmp_path, bad):
    with pytest.raises(ValueError):
        MediaConfig(tmp_path, **bad)
