"""Event clips copied without re-encoding: an H.264 source's own packets remuxed into MP4 (from the last keyframe
at or before pre_s before the event), the encode path for sources without them, the packet ring's bounds, and a
real RTSP camera."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest
from helpers import fake_model
from typer.testing import CliRunner

from lrcn.runtime.packets import PacketRing, RingConfig, check_run

av = pytest.importorskip("av")

COLOURS = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0)}  # BGR
SEGMENTS = (("red", 20), ("green", 30), ("blue", 20))  # at 10 fps: 2 s, 3 s, 2 s


def dominant(img: np.ndarray) -> str:
    return ("blue", "green", "red")[int(np.argmax(img.reshape(-1, 3).mean(0)))]


def write_video(path, codec: str, fps: int = 10, gop: int = 10) -> None:
    """The colour segments encoded by PyAV (H.264: a keyframe every `gop` frames, B-frames as libx264 makes them)."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height = 64, 48
        vs.pix_fmt = "yuv420p" if codec == "libx264" else "yuvj420p"
        if codec == "libx264":
            vs.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0", "preset": "ultrafast", "bf": "2"}
        for colour, n in SEGMENTS:
            img = np.full((48, 64, 3), COLOURS[colour], np.uint8)
            for _ in range(n):
                for pkt in vs.encode(av.VideoFrame.from_ndarray(img, format="bgr24")):
                    out.mux(pkt)
        for pkt in vs.encode(None):
            out.mux(pkt)


def packets_of(path) -> list:
    """(bytes, seconds, keyframe) of every video packet, in decode order."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [(bytes(p), float(p.pts * s.time_base), p.is_keyframe) for p in c.demux(s) if p.size]


def frames_of(path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def run_vc(tmp_path, video, spec: str):
    from lrcn.runtime.vcrun.cli import app

    model = fake_model(
        tmp_path / "m", classes=("red", "green", "blue"), num_frames=1, latent=3, weights=(np.eye(3) * 4,) * 2
    )
    r = CliRunner().invoke(
        app,
        [str(video), "--model", str(model), "--sample-fps", "0", "--json", "--min-event", "0.5", "--media", spec],
    )
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith('{"type"')]
    return r, {x["label"]: x for x in rows if x["phase"] == "end"}, rows


@pytest.mark.timeout(120)
def test_an_h264_file_s_event_clip_is_its_own_packets_from_a_keyframe(tmp_path):
    video, media = tmp_path / "v.mp4", tmp_path / "media"
    write_video(video, "libx264")
    r, ends, rows = run_vc(tmp_path, video, f"{media}#pre_s=0.5,post_s=1")
    green = ends["green"]
    start = next(x for x in rows if x["phase"] == "start" and x["label"] == "green")
    assert start["clip_via"] == "copy" and green["clip_via"] == "copy"
    clip = media / green["clip"]
    with av.open(str(clip)) as c:
        assert c.metadata.get("comment") == "lrcn: copy"
        assert c.streams.video[0].codec_context.name == "h264"
    # the packets: those of the source from the last keyframe at or before start - pre_s (1.0 s) to end + post_s
    src, out = packets_of(video), packets_of(clip)
    first = max(i for i, (_, t, key) in enumerate(src) if key and t <= green["start"] - 0.5 + 1e-6)
    until = green["end"] + 1.0
    past = next(i for i in range(first, len(src)) if src[i][1] > until + 1e-6)  # in decode order
    want = src[first:past]
    assert src[first][1] == pytest.approx(1.0) and out[0][2]  # starts on the keyframe at 1 s, before start - pre_s
    assert [b for b, _, _ in out] == [b for b, _, _ in want]  # the same bytes: nothing was re-encoded
    assert out[0][1] == pytest.approx(0.0, abs=0.21)  # timestamps rebased to 0 (B-frame delay at most)
    labels = [dominant(f) for f in frames_of(clip)]  # it decodes: 1 s of red, 3 s of green, 1 s of blue
    assert labels == ["red"] * 10 + ["green"] * 30 + ["blue"] * 10, labels
    assert (media / green["snapshot"]).is_file()


@pytest.mark.timeout(120)
def test_a_source_without_h264_packets_is_encoded(tmp_path):
    """MJPEG (in .mkv, so the PyAV reader opens it and finds no H.264) and copy=0 both give encoded clips."""
    video = tmp_path / "v.mkv"
    write_video(video, "mjpeg")
    for spec, name in ((f"{tmp_path / 'a'}#pre_s=0.5,post_s=1", "a"), (f"{tmp_path / 'b'}#pre_s=0.5,copy=0", "b")):
        _, ends, _ = run_vc(tmp_path, video, spec)
        green = ends["green"]
        assert green["clip_via"] == "encode"
        clip = tmp_path / name / green["clip"]
        with av.open(str(clip)) as c:
            assert c.metadata.get("comment") == "lrcn: encode"
            assert c.streams.video[0].codec_context.name == "h264"
        labels = [dominant(f) for f in frames_of(clip)]
        assert labels.count("green") == 30 and labels[0] == "red", labels


def test_the_ring_is_bounded_by_time_from_a_keyframe_and_by_bytes():
    class P:
        why_not = ""

    params = P()
    ring = PacketRing(RingConfig(seconds=2.0, max_mb=1.0))
    ring.append(0.0, b"x" * 10, 0, 0, False, params)  # no keyframe before it: not decodable, not kept
    assert len(ring) == 0 and ring.dropped == 1
    for i in range(1, 101):  # 10 fps, a keyframe a second, 1 kB each
        ring.append(i / 10, b"x" * 1000, i, i, i % 10 == 0, params)
    held = ring.from_keyframe(0.0)
    # from the last keyframe at or before now - 2 s (10.0 - 2.0 = 8.0): 8.0 .. 10.0
    assert held[0].key and held[0].t == pytest.approx(8.0) and held[-1].t == pytest.approx(10.0)
    assert len(ring) == 21 and ring.span() == pytest.approx(2.0)
    for i in range(101, 111):  # 9.1 ... 11.0 : the keyframe at 9.0 is not yet 2 s old ... until 11.0
        ring.append(i / 10, b"x" * 1000, i, i, i % 10 == 0, params)
    assert ring.from_keyframe(0.0)[0].t == pytest.approx(9.0)
    assert ring.from_keyframe(10.5)[0].t == pytest.approx(10.0)  # the last keyframe at or before 10.5
    small = PacketRing(RingConfig(seconds=60.0, max_mb=0.05))  # 50 kB: about 2 groups of 20 kB
    for i in range(100):
        small.append(i / 10, b"y" * 2000, i, i, i % 10 == 0, params)
    assert small.bytes <= 50_000 and small.from_keyframe(0.0)[0].key
    assert small.dropped == 80 and len(small) == 20  # whole groups dropped, oldest first
    assert check_run(small.since(0)) == ""  # contiguous, starts on a keyframe
    assert small.since(small.seq) == [] and small.since(95)[0].seq == 95


def test_a_gap_in_the_packets_or_a_reconnect_is_not_copied():
    class P:
        why_not = ""

    a, b = P(), P()
    ring = PacketRing(RingConfig(seconds=60.0))
    for i in range(5):
        ring.append(i / 10, b"z", i, i, i == 0, a)
    run = ring.since(0)
    assert check_run(run) == ""
    assert "dropped" in check_run(run[:2] + run[3:])
    ring.append(0.5, b"z", 0, 0, True, b)
    assert "reconnected" in check_run(ring.since(0))
    assert check_run(run[1:]) == "no keyframe at the clip's start"


@pytest.mark.timeout(120)
def test_a_real_rtsp_camera_s_clip_is_copied(tmp_path):
    from lrcn.bench.rtsp import RtspCameras, make_h264, missing

    why = missing()
    if why:
        pytest.skip(why)
    from lrcn.runtime.event_media import EventMedia, MediaConfig
    from lrcn.runtime.packet_source import PacketSource

    h264 = make_h264(tmp_path / "cam.h264", size=(640, 360), fps=25, seconds=2)  # a keyframe a second
    cams = RtspCameras(1, [h264], protocols="tcp").start()
    media = EventMedia(MediaConfig(tmp_path / "media", pre_s=1.0, post_s=0.5), ["a"], hold_s=0.5)
    src = PacketSource(cams.urls[0], RingConfig(3.0), timeout_s=5.0)
    rec = {"type": "event", "id": "r-1", "stream": "cam", "label": "a"}
    try:
        opened = False
        for f in src.frames():
            media.frame("cam", f.t, f.image, np.array([0.9]), src.packets)
            if not opened and f.t >= 2.0:  # an event from 1.5 s, told at 2 s
                opened = media.annotate({**rec, "phase": "start", "start": 1.5})["clip_via"] == "copy"
                assert opened
                media.annotate({**rec, "phase": "end", "start": 1.5, "end": f.t})
                end = f.t
            if opened and f.t > end + 1.0:
                break
    finally:
        src.close()
        cams.stop()
        media.close()
    assert [m["via"] for m in media.made] == ["copy"], media.made + media.errors
    clip = tmp_path / "media" / "r-1.mp4"
    out = packets_of(clip)
    assert out[0][2]  # a keyframe first
    frames = frames_of(clip)
    assert frames and frames[0].shape == (360, 640, 3)
    # from the keyframe at or before 0.5 s (pre_s before 1.5 s) to end + post_s: at least 1.5 s + post_s of video
    assert len(frames) == len(out) and len(frames) >= 25 * (end + 0.5 - 0.5) - 2
    with av.open(str(clip)) as c:
        s = c.streams.video[0]
        assert s.duration is not None and float(s.duration * s.time_base) >= end - 0.5


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_vc_serve_copies_an_h264_file_s_clip(tmp_path):
    """The service with `media`: an .mp4 stream's event clip is copied (its record says so, the file's tag too)."""
    pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install -e '.[serve]')")
    from serve_fixtures import until

    from lrcn.serve.config import EventSettings, MediaSettings, ServeConfig, StreamSettings
    from lrcn.serve.service import Service

    video = tmp_path / "v.mp4"
    write_video(video, "libx264")
    model = fake_model(
        tmp_path / "m", classes=("red", "green", "blue"), num_frames=1, latent=3, weights=(np.eye(3) * 4,) * 2
    )
    cfg = ServeConfig(
        model=str(model),
        device="cpu",
        threads=1,
        events=EventSettings(threshold=0.5, min_event=0.5, merge_gap=0.2),
        streams=[StreamSettings(name="v", source=str(video), sample_fps=0)],
        media=MediaSettings(folder=str(tmp_path / "media"), pre_s=0.5, post_s=0.5),
    )
    svc = Service(cfg).start()
    try:

        def green_end():
            return [e for e in svc.manager.events.newest(100) if e["phase"] == "end" and e["label"] == "green"]

        until(lambda: green_end(), 60, "the green event ends")
        ev = green_end()[0]
        assert ev["clip_via"] == "copy"
        clip = tmp_path / "media" / ev["clip"]
        until(lambda: clip.is_file(), 30, "its clip is written")
    finally:
        svc.close(3.0)
    with av.open(str(clip)) as c:
        assert c.metadata.get("comment") == "lrcn: copy"
    labels = [dominant(f) for f in frames_of(clip)]
    assert labels[0] == "red" and labels.count("green") == 30 and labels[-1] == "blue", labels


def test_the_pyav_reader_gives_a_file_s_frames_as_opencv_does_and_keeps_its_packets(tmp_path):
    """One demux, one decode: every frame in order at its presentation time (as FileSource times it),
    the images as OpenCV decodes them, and every packet kept (the ring large enough)."""
    from lrcn.core.errors import SourceError
    from lrcn.runtime.packet_source import PacketSource, copies
    from lrcn.runtime.sources import FileSource, open_source

    video = tmp_path / "v.mp4"
    write_video(video, "libx264")
    src = PacketSource(str(video), RingConfig(seconds=60))
    got = list(src.frames())
    src.close()
    ref = list(FileSource(video).frames())
    assert len(got) == len(ref) == 70 and src.read == 70
    assert [f.t for f in got] == pytest.approx([f.t for f in ref])
    assert max(float(np.abs(a.image.astype(int) - b.image.astype(int)).mean()) for a, b in zip(got, ref)) < 2
    assert len(src.packets) == 70 and src.packets.from_keyframe(0.0)[0].key
    assert copies("rtsp://127.0.0.1/x") and copies("a.MKV") and not copies("http://127.0.0.1/x.mjpg")
    assert not copies("a.avi") and not copies("0")
    assert isinstance(open_source(str(video), packets=RingConfig()), PacketSource)
    assert isinstance(open_source(str(video)), FileSource)  # OpenCV unless clips are copied
    with pytest.raises(SourceError, match="OpenCV cannot open it"):  # MJPEG over HTTP stays with OpenCV
        open_source("http://127.0.0.1:9/x.mjpg", packets=RingConfig(), reconnect=0, timeout_s=1.0)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_pyav_camera_reconnects_and_a_clip_across_it_is_encoded(tmp_path):
    from lrcn.bench.rtsp import RtspCameras, make_h264, missing

    why = missing()
    if why:
        pytest.skip(why)
    from lrcn.runtime.event_media import EventMedia, MediaConfig
    from lrcn.runtime.packet_source import PacketSource

    h264 = make_h264(tmp_path / "cam.h264", size=(320, 180), fps=25, seconds=2)
    cams = RtspCameras(1, [h264], protocols="tcp").start()
    media = EventMedia(MediaConfig(tmp_path / "media", pre_s=0.5, post_s=0.5), ["a"], hold_s=0.5)
    src = PacketSource(cams.urls[0], RingConfig(2.0), reconnect=10, backoff_s=0.5, timeout_s=2.0)
    rec = {"type": "event", "id": "r-1", "stream": "cam", "label": "a"}
    try:
        frames, opened = src.frames(), False
        deadline = time.monotonic() + 60
        for f in frames:
            media.frame("cam", f.t, f.image, np.array([0.9]), src.packets)
            if not opened and f.t >= 1.5:
                assert media.annotate({**rec, "phase": "start", "start": 1.0})["clip_via"] == "copy"
                opened = True
                cams.stop()  # the camera goes away ...
                time.sleep(1.0)
                cams.start()  # ... and comes back
            if src.reconnects and f.t > 0:
                break
            assert time.monotonic() < deadline, "no frame after the restart"
        for _ in range(10):
            f = next(frames)
            media.frame("cam", f.t, f.image, np.array([0.9]), src.packets)
        media.annotate({**rec, "phase": "end", "start": 1.0, "end": f.t})
    finally:
        src.close()
        cams.stop()
        media.close()
    assert src.reconnects >= 1
    assert [(m["via"], m["why"]) for m in media.made] == [("encode", "the source reconnected during the clip")]
    assert frames_of(tmp_path / "media" / "r-1.mp4")


def test_a_ring_shorter_than_the_frames_kept_or_a_failed_remux_falls_back_to_encoding(tmp_path):
    from lrcn.runtime.event_media import EventMedia, MediaConfig

    class P:  # codec parameters without a template stream: the remux fails
        why_not = ""

    img = np.full((48, 64, 3), COLOURS["green"], np.uint8)
    for first, planned in ((2.2, "encode"), (1.0, "copy")):
        media = EventMedia(MediaConfig(tmp_path / f"m{first}", pre_s=1.0, post_s=0.2), ["a"], hold_s=1.0)
        ring, params = PacketRing(RingConfig(10.0)), P()
        for i in range(40):  # 10 fps; the ring got packets only from `first` on (its byte bound dropped the rest)
            t = i / 10
            if t >= first - 1e-6:
                ring.append(t, b"p", i, i, abs(t - first) < 1e-6, params)
            media.frame("s", t, img, np.array([0.9]), ring)
            if i == 30:
                rec = {"type": "event", "phase": "start", "id": "r-1", "stream": "s", "label": "a", "start": 2.5}
                assert media.annotate(rec)["clip_via"] == planned
        media.close()
        (made,) = media.made
        assert made["via"] == "encode"
        assert made["why"].startswith("the packet ring holds less" if planned == "encode" else "remux failed")
        assert len(frames_of(tmp_path / f"m{first}" / "r-1.mp4")) >= 15  # 1.5 s before the event and after


def test_only_browser_playable_h264_is_copied():
    from lrcn.runtime.packets import playable

    class Ctx:
        def __init__(self, name, pix_fmt, profile):
            self.name, self.pix_fmt, self.profile = name, pix_fmt, profile

    class S:
        def __init__(self, *a):
            self.codec_context = Ctx(*a)

    assert playable(S("h264", "yuv420p", "High")) == playable(S("h264", "yuvj420p", "Constrained Baseline")) == ""
    assert "not H.264" in playable(S("hevc", "yuv420p", "Main"))
    assert "not 8-bit 4:2:0" in playable(S("h264", "yuv422p", "High 4:2:2"))
    assert "profile" in playable(S("h264", "yuv420p", "High 10"))
