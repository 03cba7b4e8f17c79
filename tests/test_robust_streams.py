"""Broken live sources: each fails in one line or recovers, never waits past its timeout, and ends with a summary."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from runtime_fixtures import fake_model

from lrcn.runtime import decode as D
from lrcn.runtime import sources as S
from lrcn.core.errors import SourceError

runner = CliRunner()
TIMEOUT = "0.5"  # --stream-timeout in these tests, so that every wait is short


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    return fake_model(tmp_path_factory.mktemp("fake"))


class Camera:
    """An HTTP server on 127.0.0.1 whose behaviour can change while it runs; `mode` is one of

    mjpeg   multipart/x-mixed-replace JPEG frames at `fps`
    garbage a 200 with the MJPEG content type, then random bytes
    stall   the MJPEG answer, then nothing, on an open connection
    silent  accepts the connection and never answers
    A connection follows `mode` as it changes. `stop()` closes everything; `start()` comes back on the same port.
    """

    def __init__(self, mode: str = "mjpeg", fps: float = 50.0):
        frames = [np.full((24, 24, 3), 40 * i, np.uint8) for i in range(6)]
        self.jpegs = [cv2.imencode(".jpg", f)[1].tobytes() for f in frames]
        self.mode, self.period, self.port, self.sent = mode, 1.0 / fps, 0, 0
        self._server = None

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cam.mjpg"

    def start(self) -> "Camera":
        owner, stopped = self, threading.Event()

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if owner.mode == "silent":
                    stopped.wait(30)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                rng, i = np.random.default_rng(0), 0
                while not stopped.is_set():
                    if owner.mode == "mjpeg":
                        jpg = owner.jpegs[i % len(owner.jpegs)]
                        chunk = b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
                        chunk += jpg + b"\r\n"
                    elif owner.mode == "garbage":
                        chunk = rng.bytes(2048)
                    else:  # stall: the connection stays open and silent
                        stopped.wait(0.05)
                        continue
                    try:
                        self.wfile.write(chunk)
                        self.wfile.flush()
                    except OSError:
                        return
                    owner.sent += 1
                    i += 1
                    stopped.wait(owner.period)

        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server, self._stopped = server, stopped
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._stopped.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/cam.mjpg"  # nothing listens there now: the connection is refused


def vc_run(*args):
    from lrcn.runtime.cli import app

    t0 = time.perf_counter()
    r = runner.invoke(app, [str(a) for a in args])
    return r, time.perf_counter() - t0


def errors(r) -> list[str]:
    return [x for x in r.stderr.splitlines() if x.startswith("error: ")]


@pytest.mark.parametrize("what", ["camera", "refused", "garbage", "silent"])
def test_a_source_that_cannot_open_fails_in_one_line_within_its_timeout(fake, what):
    if what == "camera" and cv2.VideoCapture(9).isOpened():
        pytest.skip("this machine has a camera 9")
    cam = Camera(what).start() if what in ("garbage", "silent") else None
    target = {"camera": "9", "refused": closed_port_url()}.get(what) or cam.url()
    try:
        r, seconds = vc_run(target, "--model", fake, "--device", "cpu", "--stream-timeout", TIMEOUT)
    finally:
        if cam:
            cam.stop()
    assert r.exit_code == 1 and "Traceback" not in r.output
    name = "camera 9" if what == "camera" else target
    assert r.output.startswith(f"error: {name}: cannot be opened") and len(r.output.splitlines()) == 1, r.output
    assert seconds < 5, seconds  # the open is bounded by --stream-timeout (0.5 s), not by FFmpeg's defaults


def test_a_server_that_stops_and_comes_back_is_reconnected_with_a_summary(fake):
    cam = Camera("mjpeg", fps=50).start()

    def outage():
        time.sleep(0.4)
        cam.stop()
        time.sleep(0.6)  # the first reconnect (after 0.5 s) may find it still down; the next one finds it
        cam.start()

    threading.Thread(target=outage, daemon=True).start()
    try:
        r, seconds = vc_run(cam.url(), "--model", fake, "--device", "cpu", "--sample-fps", "0", "--json",
                            "--stream-timeout", TIMEOUT, "--reconnect", "4", "--max-frames", "90")
    finally:
        cam.stop()
    assert r.exit_code == 0, r.output
    summary = [x for x in r.stderr.splitlines() if x.startswith(f"127.0.0.1:{cam.port}: frames read")]
    assert len(summary) == 1 and "processed 90" in summary[0] and "reconnect(s)" in summary[0], r.stderr
    rows = r.stdout.splitlines()  # one prediction per frame once the window of 4 is full, then the summary
    assert len(rows) == 88 and '"summary"' in rows[-1] and '"reconnects":' in rows[-1]
    assert seconds < 20


@pytest.mark.parametrize("after", ["garbage", "stall"])
def test_a_stream_that_turns_to_garbage_or_stalls_ends_with_a_summary_and_one_error(fake, after):
    cam = Camera("mjpeg", fps=50).start()

    def spoil():
        time.sleep(0.4)
        cam.mode = after  # the open connection turns, and so does every reconnect

    threading.Thread(target=spoil, daemon=True).start()
    try:
        r, seconds = vc_run(cam.url(), "--model", fake, "--device", "cpu", "--sample-fps", "0", "--json",
                            "--stream-timeout", TIMEOUT, "--reconnect", "2")
    finally:
        cam.stop()
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert errors(r) == [f"error: {cam.url()}: the stream dropped and 2 reconnect(s) failed"], r.stderr
    summary = [x for x in r.stderr.splitlines() if x.startswith(f"127.0.0.1:{cam.port}: frames read")]
    assert len(summary) == 1 and "predictions" in summary[0]
    assert len(r.stdout.splitlines()) > 0  # frames before the fault were classified
    # 0.4 s of frames, a read timeout, backoffs 0.5 + 1 s, two opens bounded by 0.5 s each: a few seconds
    assert seconds < 10, seconds


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
    assert time.perf_counter() - t0 < 2
    stuck.release()
    src.close()


def test_timeouts_are_refused_when_not_positive(fake):
    for opt in ("--stream-timeout", "--decode-timeout"):
        r, _ = vc_run("x.avi", "--model", fake, opt, "0")
        assert r.exit_code == 2 and f"{opt} must be > 0 seconds" in r.output
    with pytest.raises(ValueError, match="--stream-timeout must be > 0"):
        S.LiveSource("http://127.0.0.1:9/x", timeout_s=0)


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
    r, seconds = vc_run(str(video), "--stream", "--model", fake, "--device", "cpu", "--sample-fps", "0",
                        "--stream-timeout", TIMEOUT)
    cap.release()
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert errors(r) == [f"error: {video}: the decoder gave no frame for 0.5 s after frame 3; gave up on the file"], \
        r.stderr
    assert seconds < 5, seconds


def test_a_file_counts_only_the_frames_it_handed_out_and_close_ends_its_decoder(tmp_path):
    video = tmp_path / "ten.avi"
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for i in range(10):
        wr.write(np.full((24, 32, 3), 20 * i, np.uint8))
    wr.release()
    src = S.FileSource(video, timeout_s=5)
    frames = src.frames()
    got = [next(frames), next(frames)]
    time.sleep(0.2)  # the decoder runs ahead meanwhile
    assert src.read == 2 and [f.index for f in got] == [0, 1]
    src.close()
    deadline = time.monotonic() + 3
    while any(t.name == "decode:ten.avi" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "decode:ten.avi" for t in threading.enumerate())
