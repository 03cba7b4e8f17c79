"""H.264 over RTSP from a real RTSP server (GStreamer's, Debian packages): TCP by default, UDP on request,
reconnect after the server went away, and four cameras classified by one `vc-run`."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import REPO
from helpers import fake_model
from test_multistream_live import Watch, read_rows

from lrcn.bench.rtsp import RtspCameras, make_h264, missing

WHY = missing()
pytestmark = pytest.mark.skipif(bool(WHY), reason=WHY or "-")


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """2 s of H.264 640x360 at 25 fps (ffmpeg's moving test pattern), looped by the server."""
    return make_h264(tmp_path_factory.mktemp("rtsp") / "clip.h264", size=(640, 360), fps=25, seconds=2)


def read_frames(url: str, n: int, timeout_s: float = 3.0, **kw) -> tuple[list, object]:
    from lrcn.runtime.sources import LiveSource

    src = LiveSource(url, timeout_s=timeout_s, **kw)
    out = []
    try:
        for f in src.frames():
            out.append(f.image)
            if len(out) == n:
                break
    finally:
        src.close()
    return out, src


@pytest.mark.timeout(60)
def test_h264_over_tcp_by_default(clip, monkeypatch):
    monkeypatch.delenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", raising=False)
    cams = RtspCameras(1, [clip], protocols="tcp").start()  # the server refuses UDP: only TCP can work
    try:
        frames, _ = read_frames(cams.urls[0], 10)
    finally:
        cams.stop()
    assert len(frames) == 10 and frames[0].shape == (360, 640, 3)
    assert len({f.tobytes() for f in frames}) > 1  # the pattern moves: frames are decoded, not repeated


@pytest.mark.timeout(60)
def test_udp_on_request(clip, monkeypatch):
    """`rtsp_transport;udp` in OpenCV's capture options: a UDP-only server streams, a TCP-only one refuses."""
    from lrcn.core.errors import SourceError

    monkeypatch.setenv("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;udp")
    udp = RtspCameras(1, [clip], protocols="udp").start()
    try:
        frames, _ = read_frames(udp.urls[0], 10)
    finally:
        udp.stop()
    assert len(frames) == 10 and frames[0].shape == (360, 640, 3)
    tcp = RtspCameras(1, [clip], protocols="tcp").start()
    try:
        with pytest.raises(SourceError, match="cannot be opened"):  # UDP really was asked for
            read_frames(tcp.urls[0], 1)
    finally:
        tcp.stop()


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_reconnects_when_the_server_comes_back(clip):
    from lrcn.runtime.sources import LiveSource

    cams = RtspCameras(1, [clip]).start()
    src = LiveSource(cams.urls[0], reconnect=10, backoff_s=0.5, timeout_s=2.0)
    frames = src.frames()
    try:
        for _ in range(5):
            next(frames)
        cams.stop()  # the camera goes away ...
        time.sleep(1.0)
        cams.start()  # ... and comes back on the same address
        deadline, after = time.monotonic() + 60, 0
        while src.reconnects == 0 or after < 10:  # frames again, from a reopened capture
            assert time.monotonic() < deadline, f"no frames after the restart ({src.reconnects} reconnects)"
            next(frames)
            after += src.reconnects > 0
    finally:
        src.close()
        cams.stop()
    assert src.reconnects >= 1


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_four_h264_cameras_in_one_vc_run(clip, tmp_path):
    fake = fake_model(tmp_path / "model")
    cams = RtspCameras(4, [clip], protocols="tcp").start()
    lst = tmp_path / "cams.streams"
    lst.write_text("".join(f"cam{i} = {u}\n" for i, u in enumerate(cams.urls)))
    env = {k: v for k, v in os.environ.items() if k != "OPENCV_FFMPEG_CAPTURE_OPTIONS"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lrcn.runtime.vcrun.cli", str(lst), "--json", "--model", str(fake)]
        + ["--device", "cpu", "--sample-fps", "0", "--stream-timeout", "5"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    rows: queue.Queue = queue.Queue()
    threading.Thread(target=read_rows, args=(proc, rows), daemon=True).start()
    err_lines: list[str] = []
    err_reader = threading.Thread(target=lambda: err_lines.extend(proc.stderr), daemon=True)
    err_reader.start()
    watch = Watch(rows)
    names = [f"cam{i}" for i in range(4)]
    try:
        watch.until(lambda c: all(c.get(n, 0) >= 25 for n in names), 60, "all 4 H.264 cameras predict")
        proc.send_signal(signal.SIGINT)
        watch.until(lambda c: len(watch.summaries) == 4, 30, "4 summaries")
        proc.wait(timeout=30)
        err_reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        cams.stop()
    err = "".join(err_lines)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    summary = {d["stream"]: d["summary"] for d in watch.summaries}
    assert sorted(summary) == names and all(d["error"] is None for d in watch.summaries)
    assert all(s["processed"] >= 25 and s["latency_p95_ms"] is not None for s in summary.values())
