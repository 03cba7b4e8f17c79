"""Broken live sources: each fails in one line or recovers, never waits past its timeout, and ends with a summary."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from helpers import MjpegServer, closed_port_url, error_lines, vc_run_timed, write_avi

from lrcn.core.errors import SourceError
from lrcn.runtime import decode as D
from lrcn.runtime import sources as S

TIMEOUT = "0.5"  # --stream-timeout in these tests, so that every wait is short
# Wall-clock bounds below are generous on purpose (a loaded 2-core machine runs these several times
# slower): each is far above what the mechanism needs and far below what its absence would cost
# (OpenCV's own open and read timeouts are 30 s each; the fake hangs below last 60 s).


def after_consumed(monkeypatch, n: int, action) -> None:
    """Run `action` once the stream has taken n frames from its LiveSource (an event, not a delay)."""
    frames = S.LiveSource.frames

    def counted(self):
        for i, frame in enumerate(frames(self)):
            if i == n:
                action()
            yield frame

    monkeypatch.setattr(S.LiveSource, "frames", counted)


@pytest.mark.parametrize("what", ["camera", "refused", "garbage", "silent"])
def test_a_source_that_cannot_open_fails_in_one_line_within_its_timeout(fake, what):
    if what == "camera" and cv2.VideoCapture(9).isOpened():
        pytest.skip("this machine has a camera 9")
    cam = MjpegServer(mode=what).start() if what in ("garbage", "silent") else None
    target = {"camera": "9", "refused": closed_port_url()}.get(what) or cam.url()
    try:
        r, seconds = vc_run_timed(target, "--model", fake, "--device", "cpu", "--stream-timeout", TIMEOUT)
    finally:
        if cam:
            cam.stop()
    assert r.exit_code == 1 and "Traceback" not in r.output
    name = "camera 9" if what == "camera" else target
    assert r.output.startswith(f"error: {name}: cannot be opened") and len(r.output.splitlines()) == 1, r.output
    assert seconds < 15, seconds  # bounded by --stream-timeout (0.5 s), not by OpenCV's 30 s default


@pytest.mark.slow  # real-time waits or a real training run: out of make test-fast
def test_a_server_that_stops_and_comes_back_is_reconnected_with_a_summary(fake, monkeypatch):
    cam = MjpegServer(fps=50).start()

    def outage():
        cam.stop()
        time.sleep(0.6)  # the first reconnect (after 0.5 s) may find it still down; the next one finds it
        cam.start()

    after_consumed(monkeypatch, 10, lambda: threading.Thread(target=outage, daemon=True).start())
    try:
        r, seconds = vc_run_timed(
            cam.url(),
            "--model",
            fake,
            "--device",
            "cpu",
            "--sample-fps",
            "0",
            "--json",
            "--stream-timeout",
            TIMEOUT,
            "--reconnect",
            "4",
            "--max-frames",
            "90",
        )
    finally:
        cam.stop()
    assert r.exit_code == 0, r.output
    summary = [x for x in r.stderr.splitlines() if x.startswith(f"127.0.0.1:{cam.port}: frames read")]
    assert len(summary) == 1 and "processed 90" in summary[0] and "reconnect(s)" in summary[0], r.stderr
    rows = r.stdout.splitlines()  # one prediction per frame once the window of 4 is full, then the summary
    assert len(rows) == 88 and '"summary"' in rows[-1] and '"reconnects":' in rows[-1]
    assert seconds < 60  # 90 frames at 50 fps and one outage: a few seconds; 60 only stops a hang


@pytest.mark.slow  # real-time waits or a real training run: out of make test-fast
@pytest.mark.parametrize("after", ["garbage", "stall"])
def test_a_stream_that_turns_to_garbage_or_stalls_ends_with_a_summary_and_one_error(fake, after, monkeypatch):
    cam = MjpegServer(fps=50).start()
    # after 8 frames taken (so some were classified) the open connection turns, and so does every reconnect
    after_consumed(monkeypatch, 8, lambda: setattr(cam, "mode", after))
    try:
        r, seconds = vc_run_timed(
            cam.url(),
            "--model",
            fake,
            "--device",
            "cpu",
            "--sample-fps",
            "0",
            "--json",
            "--stream-timeout",
            TIMEOUT,
            "--reconnect",
            "2",
        )
    finally:
        cam.stop()
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert error_lines(r) == [f"error: {cam.url()}: the stream dropped and 2 reconnect(s) failed"], r.stderr
    summary = [x for x in r.stderr.splitlines() if x.startswith(f"127.0.0.1:{cam.port}: frames read")]
    assert len(summary) == 1 and "predictions" in summary[0]
    assert len(r.stdout.splitlines()) > 0  # frames before the fault were classified
    # a read timeout, backoffs 0.5 + 1 s, two opens bounded by 0.5 s each: a few seconds here, and at least
    # 90 s (three of OpenCV's 30 s defaults) were the timeouts not applied
    assert seconds < 30, seconds


def test_a_capture_stuck_past_its_timeout_still_ends_the_stream(monkeypatch):
    class StuckCapture:
        """A driver that ignores its read timeout: read() never returns."""

        def __init__(self):
            self.release_me = threading.Event()

        def read(self):
            self.release_me.wait(60)
            return False, None

        def release(self):
            self.release_me.set()

    stuck = StuckCapture()
    monkeypatch.setattr(S, "_open_capture", lambda target, timeout_s: stuck)
    src = S.LiveSource("http://example.invalid/x", reconnect=0, backoff_s=0.05, timeout_s=0.2)
    t0 = time.perf_counter()
    with pytest.raises(SourceError, match=r"no frame for 0\.45 s \(the source stalled\)"):
        for _ in src.frames():
            pass
    assert time.perf_counter() - t0 < 30  # stalled after 0.45 s; the stuck read would have lasted 60 s
    stuck.release()
    src.close()


def test_timeouts_are_refused_when_not_positive(fake):
    for opt in ("--stream-timeout", "--decode-timeout"):
        r, _ = vc_run_timed("x.avi", "--model", fake, opt, "0")
        assert r.exit_code == 2 and f"{opt} must be > 0 seconds" in r.output
    with pytest.raises(ValueError, match="^timeout_s must be > 0"):
        S.LiveSource("http://127.0.0.1:9/x", timeout_s=0)


@pytest.mark.slow  # real-time waits or a real training run: out of make test-fast
def test_a_file_whose_decoder_hangs_in_stream_mode_ends_within_its_timeout(fake, tmp_path, monkeypatch):
    class HangingCapture:
        """Three frames, then read() blocks the way a hung demuxer does."""

        def __init__(self):
            self.n, self.release_me = 0, threading.Event()

        def isOpened(self):
            return True

        def get(self, prop):
            return 25.0

        def read(self):
            self.n += 1
            if self.n > 3:
                self.release_me.wait(60)
                return False, None
            return True, np.full((24, 24, 3), 60 * self.n, np.uint8)

        def release(self):
            self.release_me.set()

    cap = HangingCapture()
    monkeypatch.setattr(D, "open_file_capture", lambda path: cap)
    video = tmp_path / "hangs after 3.avi"
    video.write_bytes(b"not read: the capture is faked")
    r, seconds = vc_run_timed(
        str(video), "--stream", "--model", fake, "--device", "cpu", "--sample-fps", "0", "--stream-timeout", TIMEOUT
    )
    cap.release()
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert error_lines(r) == [
        f"error: {video}: the decoder gave no frame for 0.5 s after frame 3; gave up on the file"
    ], r.stderr
    assert seconds < 30, seconds  # 0.5 s, and 2 s waiting for the stuck thread; its hang would last 60 s


def test_a_file_counts_only_the_frames_it_handed_out_and_close_ends_its_decoder(tmp_path):
    video = tmp_path / "ten.avi"
    write_avi(video, [np.full((24, 32, 3), 20 * i, np.uint8) for i in range(10)])
    src = S.FileSource(video, timeout_s=5)
    frames = src.frames()
    got = [next(frames), next(frames)]
    deadline = time.monotonic() + 60  # the decoder runs ahead meanwhile: wait until it has (60 s: only a bound)
    while src._decoder.reader.decoded < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert src._decoder.reader.decoded >= 5
    assert src.read == 2 and [f.index for f in got] == [0, 1]
    src.close()  # waits for the decoder thread (a bounded join)
    assert not any(t.name == "decode:ten.avi" for t in threading.enumerate())


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gst://videotestsrc ! appsink",
        "concat:a.avi|b.avi://x",
        "ftp://127.0.0.1/cam",
        "udp://127.0.0.1:1234",
    ],
)
def test_only_stream_url_schemes_are_opened(fake, url, monkeypatch):
    opened = []
    monkeypatch.setattr(S.cv2, "VideoCapture", lambda *a: opened.append(a))
    scheme = url.split("://")[0]
    msg = f"{url}: {scheme!r} URLs are not opened; stream URLs are rtsp://, rtsps://, http://, https://, rtmp://"
    with pytest.raises(SourceError) as e:
        S.open_source(url)
    assert str(e.value) == msg
    r, _ = vc_run_timed(url, "--model", fake, "--device", "cpu")
    assert r.exit_code == 1 and r.output == f"error: {msg}\n"
    assert opened == []  # refused before OpenCV saw the string


@pytest.mark.parametrize(
    "target",
    [
        "rtsp://127.0.0.1:9/cam",
        "RTSPS://127.0.0.1:9/cam",
        "http://127.0.0.1:9/x",
        "https://127.0.0.1:9/x",
        "rtmp://127.0.0.1:9/live",
        3,
    ],
)
def test_urls_open_through_ffmpeg_explicitly_and_cameras_as_before(target, monkeypatch):
    class Unopened:
        def isOpened(self):
            return False

        def release(self):
            pass

    calls = []
    monkeypatch.setattr(S.cv2, "VideoCapture", lambda *a: calls.append(a) or Unopened())
    with pytest.raises(SourceError, match="cannot be opened"):
        S.open_source(target, timeout_s=0.5)
    if isinstance(target, int):
        assert calls == [(3,)]  # a camera index: OpenCV picks the camera backend, as before
    else:
        assert len(calls) == 1 and calls[0][:2] == (target, cv2.CAP_FFMPEG)  # never CAP_ANY: no GStreamer pipeline
