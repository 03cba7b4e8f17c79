"""Loopback H.264 RTSP cameras: GStreamer's RTSP server serving H.264 files we made, looped.

    /usr/bin/python3 lrcn/bench/rtsp_server.py --port P --mounts N [--fps 25] [--protocols tcp,udp] A.h264 ...

serves rtsp://127.0.0.1:P/cam0 .. /cam<N-1> (mount k plays file k modulo the files given), prints the
URLs as one JSON line once it listens, and runs until its stdin closes (its parent went away) or it is
terminated. Each file is an H.264 Annex B byte stream with access unit delimiters and no B-frames
(`lrcn.bench.rtsp.make_h264` writes one with ffmpeg); each client gets its own pipeline that starts at
the first access unit and sends one per 1/fps s, looping, with times from the server's clock, as a
camera does.

It runs under the system Python, where Debian's GStreamer bindings are (python3-gi,
gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-good/-bad for rtph264pay and h264parse): it imports
only the standard library and `gi`, never lrcn or the venv's packages.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

AUD = 9
"""NAL unit type of an access unit delimiter: where one frame's units start."""


def access_units(data: bytes) -> list[bytes]:
    """An Annex B stream cut at its access unit delimiters; each piece keeps its start codes."""
    starts, i = [], data.find(b"\x00\x00\x01")
    while i >= 0:
        begin = i - 1 if i > 0 and data[i - 1] == 0 else i  # a 4-byte start code begins one byte earlier
        if i + 3 < len(data) and data[i + 3] & 0x1F == AUD:
            starts.append(begin)
        i = data.find(b"\x00\x00\x01", i + 3)
    if not starts:
        raise ValueError("no access unit delimiters (write the file with x264 aud=1)")
    return [data[a:b] for a, b in zip(starts, [*starts[1:], len(data)])]


class Camera(GstRtspServer.RTSPMediaFactory):
    """One mount: a new pipeline per client, fed the file's access units at `fps` by a thread."""

    def __init__(self, units: list[bytes], fps: float, protocols):
        super().__init__()
        self.units, self.fps = units, fps
        self.set_launch(
            "( appsrc name=src is-live=true do-timestamp=true format=time "
            "caps=video/x-h264,stream-format=byte-stream,alignment=au "
            "! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=1 )"
        )
        self.set_protocols(protocols)
        self.set_shared(False)
        self.connect("media-configure", self._configure)

    def _configure(self, factory, media) -> None:
        src = media.get_element().get_child_by_name("src")
        wanted, stop = threading.Event(), threading.Event()
        src.connect("need-data", lambda *_: wanted.set())  # the pipeline plays: start the camera's clock
        media.connect("unprepared", lambda *_: stop.set())
        threading.Thread(target=self._play, args=(src, wanted, stop), daemon=True).start()

    def _play(self, src, wanted: threading.Event, stop: threading.Event) -> None:
        while not wanted.wait(0.5):
            if stop.is_set():
                return
        t0, k = time.monotonic(), 0
        while not stop.is_set():
            ret = src.emit("push-buffer", Gst.Buffer.new_wrapped(self.units[k % len(self.units)]))
            if ret != Gst.FlowReturn.OK:  # the client left: the pipeline flushes
                return
            k += 1
            stop.wait(max(0.0, t0 + k / self.fps - time.monotonic()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mounts", type=int, default=1)
    ap.add_argument("--fps", type=float, default=25.0)
    ap.add_argument("--protocols", default="tcp,udp", help="lower transports allowed: tcp, udp or both")
    a = ap.parse_args()
    Gst.init(None)
    flags = {"tcp": GstRtsp.RTSPLowerTrans.TCP, "udp": GstRtsp.RTSPLowerTrans.UDP}
    protocols = 0
    for p in a.protocols.split(","):
        protocols |= flags[p.strip()]
    units = []
    for f in a.files:
        with open(f, "rb") as fh:
            units.append(access_units(fh.read()))
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    mounts = server.get_mount_points()
    for k in range(a.mounts):
        mounts.add_factory(f"/cam{k}", Camera(units[k % len(units)], a.fps, GstRtsp.RTSPLowerTrans(protocols)))
    if server.attach(None) == 0:
        sys.exit(f"rtsp_server: cannot listen on 127.0.0.1:{a.port}")
    loop = GLib.MainLoop()

    def watch_stdin() -> None:  # the parent closes our stdin (or dies): stop
        sys.stdin.read()
        GLib.idle_add(loop.quit)

    threading.Thread(target=watch_stdin, daemon=True).start()
    print(json.dumps([f"rtsp://127.0.0.1:{a.port}/cam{k}" for k in range(a.mounts)]), flush=True)
    loop.run()


if __name__ == "__main__":
    main()
