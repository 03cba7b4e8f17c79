"""Loopback H.264 RTSP cameras for the streams bench and the tests (GStreamer's RTSP server).

`make_h264` writes an H.264 clip with ffmpeg; `RtspCameras(n, files)` serves it on rtsp://127.0.0.1:<port>/cam0..
from `rtsp_server.py`, run by the system Python (Debian's GStreamer bindings are not in the venv), in its
own process so serving costs the measured process nothing. `stop()` and `start()` again is the camera
going away and coming back on the same address. `missing()` says what is not installed, or "".
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

SERVER = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"
APT = (
    "gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good gstreamer1.0-plugins-bad "
    "gstreamer1.0-plugins-ugly ffmpeg"
)
"""The Debian packages the RTSP cameras need (.ci/run installs them)."""


def missing() -> str:
    """Why RTSP cameras cannot run here ("" when they can)."""
    if not shutil.which("ffmpeg"):
        return f"ffmpeg not found (apt-get install -y {APT})"
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
        "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
        "assert Gst.ElementFactory.find('rtph264pay') and Gst.ElementFactory.find('h264parse')"
    )
    try:
        ok = (
            Path(SYSTEM_PYTHON).is_file()
            and subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30).returncode == 0
        )
    except subprocess.TimeoutExpired:
        ok = False
    return "" if ok else f"GStreamer's RTSP server not usable from {SYSTEM_PYTHON} (apt-get install -y {APT})"


def make_h264(
    out: Path, source: str | Path | None = None, size: tuple[int, int] = (640, 360), fps: int = 25, seconds: float = 4
) -> Path:
    """An H.264 Annex B clip (baseline: no B-frames; a keyframe a second; access unit delimiters) at
    `size` and `fps`: `source` scaled, or ffmpeg's moving test pattern when None."""
    w, h = size
    inp = ["-i", str(source)] if source else ["-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate={fps}"]
    tmp = out.with_name(out.name + ".part")
    subprocess.run(
        ["ffmpeg", "-y", "-loglevel", "error", "-stream_loop", "-1", *inp, "-t", str(seconds), "-an"]
        + ["-vf", f"scale={w}:{h},fps={fps}", "-c:v", "libx264", "-profile:v", "baseline", "-preset", "ultrafast"]
        + ["-g", str(fps), "-x264-params", "aud=1", "-f", "h264", str(tmp)],
        check=True,
        timeout=120,
        capture_output=True,
    )
    os.replace(tmp, out)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RtspCameras:
    """`n` mounts (/cam0..) on one free loopback port, each a file of `files` looped at `fps`."""

    def __init__(self, n: int, files: list[Path], fps: float = 25.0, protocols: str = "tcp,udp"):
        self.n, self.files, self.fps, self.protocols = n, [str(f) for f in files], fps, protocols
        self.port, self.proc = free_port(), None
        self.urls: list[str] = []

    def start(self, timeout: float = 20.0) -> RtspCameras:
        cmd = [SYSTEM_PYTHON, str(SERVER), "--port", str(self.port), "--mounts", str(self.n), "--fps", str(self.fps)]
        self.proc = subprocess.Popen(
            [*cmd, "--protocols", self.protocols, *self.files],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()  # the server prints its URLs once it listens
        if not line:
            err = self.proc.stderr.read().strip().splitlines() or ["?"]
            self.stop()
            raise RuntimeError(f"rtsp server failed: {err[-1]}")
        self.urls = json.loads(line)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # bounded: GLib's loop accepts within ms of the print
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"rtsp server did not accept on {self.port} within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    close = stop
