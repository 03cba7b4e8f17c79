"""The one decoder (lrcn.runtime.decode): its fps rule, and the frame-size limit checked before a frame decodes."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from helpers import vc_run, write_avi

from lrcn.core.errors import VideoError
from lrcn.runtime import decode as D
from lrcn.runtime.sources import FileSource
from lrcn.runtime.video import decode_video


class CountingCapture:
    """Wraps a real capture and counts read() calls: how many frames were decoded."""

    def __init__(self, cap):
        self.cap, self.reads = cap, 0

    def __getattr__(self, name):
        return getattr(self.cap, name)

    def read(self):
        self.reads += 1
        return self.cap.read()


@pytest.fixture
def counted(monkeypatch):
    """Every capture the decoder opens, wrapped in a CountingCapture."""
    made, real = [], D.open_file_capture

    def opener(path):
        made.append(CountingCapture(real(path)))
        return made[-1]

    monkeypatch.setattr(D, "open_file_capture", opener)
    return made


@pytest.mark.parametrize(
    "fps,expected",
    [
        (25.0, 25.0),
        (29.97, 29.97),
        (0.0, None),
        (float("nan"), None),
        (float("inf"), None),
        (1e9, None),
        (-5, None),
        (None, None),
        ("x", None),
    ],
)
def test_one_fps_rule(fps, expected):
    assert D.usable_fps(fps) == expected


def test_a_file_without_a_usable_rate_is_unknown_in_clip_mode_and_25_fps_in_stream_mode(tmp_path, monkeypatch):
    video = write_avi(tmp_path / "v.avi", [np.full((16, 16, 3), 30 * i, np.uint8) for i in range(3)])
    monkeypatch.setattr(D, "usable_fps", lambda fps: None)  # as for a container that states none
    assert decode_video(video, 16).fps is None
    assert [f.t for f in FileSource(video).frames()] == [0.0, 1 / D.ASSUMED_FPS, 2 / D.ASSUMED_FPS]


def test_a_frame_size_over_the_limit_is_refused_before_any_frame_decodes(tmp_path, monkeypatch, counted):
    video = write_avi(tmp_path / "wide.avi", [np.zeros((48, 64, 3), np.uint8)] * 3)
    monkeypatch.setattr(D, "MAX_FRAME_PIXELS", 64 * 48 - 1)
    msg = f"{video}: frames of 64x48 pixels are over the limit of 3,071 pixels"
    with pytest.raises(VideoError) as e:
        decode_video(video, 16)
    assert str(e.value) == msg
    with pytest.raises(VideoError) as e:
        list(FileSource(video).frames())
    assert str(e.value) == msg
    assert len(counted) == 2 and [c.reads for c in counted] == [0, 0]  # opened twice, never read
    monkeypatch.setattr(D, "MAX_FRAME_PIXELS", 64 * 48)  # at the limit: decodes
    assert decode_video(video, 16).num_decoded == 3 and counted[-1].reads > 0


def test_the_pyav_fallback_checks_the_size_before_decoding_too(tmp_path, monkeypatch):
    pytest.importorskip("av")
    video = write_avi(tmp_path / "wide.avi", [np.zeros((48, 64, 3), np.uint8)] * 3)

    class Closed:  # OpenCV cannot open it: PyAV's turn
        def isOpened(self):
            return False

        def release(self):
            pass

    monkeypatch.setattr(D, "open_file_capture", lambda path: Closed())
    assert decode_video(video, 16).backend == "pyav"
    monkeypatch.setattr(D, "MAX_FRAME_PIXELS", 100)
    decoded = []
    monkeypatch.setattr(D.FrameReader, "_frame", lambda self, image: decoded.append(image))
    with pytest.raises(VideoError, match=r"wide.avi: frames of 64x48 pixels are over the limit of 100 pixels"):
        decode_video(video, 16)
    assert decoded == []


def test_vc_run_refuses_an_oversized_file_in_one_line_in_clip_and_stream_mode(fake, tmp_path, monkeypatch):
    video = write_avi(tmp_path / "wide.avi", [np.zeros((48, 64, 3), np.uint8)] * 6)
    monkeypatch.setattr(D, "MAX_FRAME_PIXELS", 1000)
    for mode in ([], ["--stream", "--sample-fps", "0"]):
        r = vc_run(video, "--model", fake, "--device", "cpu", "--json", *mode)
        assert r.exit_code == 1 and "Traceback" not in r.output
        errors = [x for x in r.stderr.splitlines() if x.startswith("error: ")]
        assert errors == [f"error: {video}: frames of 64x48 pixels are over the limit of 1,000 pixels"]
        assert all("error" in json.loads(x) for x in r.stdout.splitlines())  # no prediction


def test_a_live_source_over_the_limit_is_refused_at_open_and_a_larger_frame_later_ends_it(fake, monkeypatch):
    from helpers import MjpegServer

    from lrcn.core.errors import SourceError
    from lrcn.runtime import sources as S

    monkeypatch.setattr(D, "MAX_FRAME_PIXELS", 1000)
    big = MjpegServer([np.zeros((48, 64, 3), np.uint8)], fps=50).start()
    try:
        with pytest.raises(SourceError) as e:
            S.open_source(big.url(), timeout_s=5)
        assert str(e.value) == f"{big.url()}: frames of 64x48 pixels are over the limit of 1,000 pixels"
        r = vc_run(big.url(), "--model", fake, "--device", "cpu", "--stream-timeout", "5")
        assert r.exit_code == 1 and r.output == f"error: {e.value}\n"
    finally:
        big.stop()

    # a capture that announced small frames and then gives a larger one (OpenCV's FFmpeg backend scales
    # to the size announced at open; a camera driver need not): the source ends at the first of them
    class Growing:
        def __init__(self):
            self.n = 0

        def read(self):
            self.n += 1
            return True, np.zeros((24, 24, 3) if self.n <= 3 else (48, 64, 3), np.uint8)

        def release(self):
            pass

    monkeypatch.setattr(S, "_open_capture", lambda target, timeout_s: Growing())
    src = S.open_source(7, reconnect=0)
    with pytest.raises(SourceError, match=r"^camera 7: frames of 64x48 pixels are over the limit of 1,000 pixels$"):
        for frame in src.frames():
            assert frame.image.shape[:2] == (24, 24)
    src.close()


def test_a_stuck_thread_costs_its_join_bound_once_however_many_wait_for_it():
    """A source's close and the process's exit both wait for its capture thread: the bound counts
    from the first stop request, so the second wait does not add another JOIN_S."""
    release = threading.Event()
    stop = D.StopFlag()
    thread = D.start_owned(lambda: release.wait(10), "test:stuck", stop)  # ignores `stop`, as a read in OpenCV does
    try:
        t0 = time.monotonic()
        assert not D.join_stopped(thread, stop, 0.3)  # the source's close: waits its bound
        first = time.monotonic() - t0
        assert thread in D.stop_owned(0.3)  # the exit: reported stuck, not waited for again
        second = time.monotonic() - t0 - first
        assert 0.25 <= first < 1.0 and second < 0.1, (first, second)
    finally:
        release.set()
        thread.join(2)
    stop.clear()
    assert stop.at is None and not stop.is_set()  # a reused flag (a file replayed) counts afresh
