"""Loopback MJPEG cameras for the streams bench's second figure (decoding included).

`python -m lrcn.bench.mjpeg N FPS SECONDS VIDEO` starts N HTTP servers on 127.0.0.1, each
sending the video's frames (JPEG-encoded once, looped) as multipart/x-mixed-replace at FPS to
every client, prints their URLs as one JSON line, and exits after SECONDS. They run in their
own process so that serving costs no GIL time in the process measured.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
import time


def serve(n: int, fps: float, seconds: float, jpegs: list[bytes]) -> list[str]:
    period, urls = 1.0 / fps, []
    for _ in range(n):

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                t0, k = time.monotonic(), 0
                while True:
                    jpg = jpegs[k % len(jpegs)]
                    try:
                        self.wfile.write(
                            b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpg)
                            + jpg
                            + b"\r\n"
                        )
                    except OSError:
                        return
                    k += 1
                    time.sleep(max(0.0, t0 + k * period - time.monotonic()))  # a camera's clock, not a delay

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        urls.append(f"http://127.0.0.1:{server.server_address[1]}/cam.mjpg")
    return urls


class Cameras:
    """N loopback MJPEG cameras in a child process, for `seconds`; `.urls`; `close()` ends them."""

    def __init__(self, n: int, fps: float, seconds: float, video: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lrcn.bench.mjpeg", str(n), str(fps), str(seconds), video],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError(f"mjpeg cameras failed: {(self.proc.stderr.read().strip().splitlines() or ['?'])[-1]}")
        self.urls = json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


if __name__ == "__main__":
    import cv2

    from lrcn.bench.paced import decode_frames

    count, rate, secs, path = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    encoded = [cv2.imencode(".jpg", f)[1].tobytes() for f in decode_frames(path)]
    print(json.dumps(serve(count, rate, secs, encoded)), flush=True)
    time.sleep(secs)
