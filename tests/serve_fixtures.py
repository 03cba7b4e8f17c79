"""Helpers for the vc-serve tests: a service in this process, a served subprocess, waits with deadlines."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
from conftest import REPO

BLACK = np.zeros((48, 64, 3), np.uint8)
"""The fake model (helpers.fake_model, seed 0) says "c" for black frames..."""
GREEN = np.zeros((48, 64, 3), np.uint8)
GREEN[..., 1] = 224
"""... and "a" for bright green ones (BGR)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def until(cond, seconds: float, what: str, every: float = 0.1):
    """cond()'s first truthy value within `seconds`, else AssertionError naming `what` and the last value."""
    deadline, last = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        try:
            last = cond()
        except Exception as e:  # noqa: BLE001 - keep trying until the deadline; say what the last try saw
            last = f"{type(e).__name__}: {e}"
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"{what}: not within {seconds} s (last: {last!r})")


TEST_HOST = "testserver"
"""The host name FastAPI's TestClient sends; the service answers it only where configured (http.allowed_hosts)."""


def service(model: Path, **http):
    from lrcn.serve.api import create_app
    from lrcn.serve.config import HttpSettings, ServeConfig
    from lrcn.serve.service import Service

    http.setdefault("allowed_hosts", [TEST_HOST])
    cfg = ServeConfig(
        model=str(model), device="cpu", threads=1, reconnect=50, stream_timeout=2.0, http=HttpSettings(**http)
    )
    svc = Service(cfg).start()
    return svc, create_app(svc, cfg.http.token)


class Served:
    """`python -m lrcn.serve.cli ARGS` on a free port; `.url`, `.get(path)`, `.stop()` (SIGTERM) -> (rc, seconds)."""

    def __init__(self, args: list[str], port: int, token: str | None = None, env: dict | None = None):
        import os

        self.port, self.url, self.token = port, f"http://127.0.0.1:{port}", token
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lrcn.serve.cli", *args],
            cwd=REPO,
            env={**os.environ, **env} if env else None,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def get(self, path: str, timeout: float = 5.0) -> bytes:
        req = urllib.request.Request(self.url + path)
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.read()

    def wait_ready(self, seconds: float = 60.0) -> None:
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"vc-serve exited {self.proc.returncode}: {self.proc.stderr.read()[-2000:]}")
            return self.get("/ready")

        until(ready, seconds, "vc-serve ready", every=0.25)

    def stop(self) -> tuple[int | None, float]:
        import signal

        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        return rc, time.monotonic() - t0

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
