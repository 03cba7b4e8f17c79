"""Acceptance: `vc-run a.streams --stream --json` over 4 live MJPEG servers, one of them killed and restarted."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from conftest import REPO
from helpers import MjpegServer, fake_model


def read_rows(proc: subprocess.Popen, rows: queue.Queue) -> None:
    for line in proc.stdout:
        rows.put(json.loads(line))
    rows.put(None)


class Watch:
    """Prediction counts per stream from vc-run's JSON lines, waited on with deadlines (no bare sleeps)."""

    def __init__(self, rows: queue.Queue):
        self.rows, self.count, self.summaries = rows, {}, []

    def until(self, cond, seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not cond(self.count):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{what}: not within {seconds} s; predictions so far {self.count}")
            try:
                row = self.rows.get(timeout=left)
            except queue.Empty:
                continue
            if row is None:
                raise AssertionError(f"{what}: vc-run ended early; predictions {self.count}")
            if "summary" in row:
                self.summaries.append(row)
            elif "label" in row:
                self.count[row["stream"]] = self.count.get(row["stream"], 0) + 1


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_four_cameras_one_dropped_and_back_then_sigint(tmp_path):
    fake = fake_model(tmp_path / "model")
    frames = [np.full((48, 64, 3), 30 * i, np.uint8) for i in range(8)]
    servers = [MjpegServer(frames, fps=25).start() for _ in range(4)]
    lst = tmp_path / "a.streams"
    lst.write_text("# four loopback cameras\n" + "".join(f"cam{i} = {s.url()}\n" for i, s in enumerate(servers)))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lrcn.runtime.vcrun.cli",
            str(lst),
            "--stream",
            "--json",
            "--model",
            str(fake),
            "--device",
            "cpu",
            "--sample-fps",
            "0",
            "--reconnect",
            "20",
            "--stream-timeout",
            "2",
        ],
        cwd=REPO,
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
        watch.until(lambda c: all(c.get(n, 0) >= 5 for n in names), 40, "all 4 streams predict")
        servers[2].stop()  # camera 2 drops
        before = dict(watch.count)
        watch.until(
            lambda c: all(c[n] >= before[n] + 25 for n in ("cam0", "cam1", "cam3")),
            30,
            "the other 3 keep predicting while cam2 is down",
        )
        down = watch.count["cam2"]
        servers[2].start()  # and comes back on the same port
        watch.until(lambda c: c["cam2"] >= down + 10, 40, "cam2 reconnects and predicts again")
        proc.send_signal(signal.SIGINT)
        watch.until(lambda c: len(watch.summaries) == 4, 30, "4 summaries")
        proc.wait(timeout=30)
        err_reader.join(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        for s in servers:
            s.stop()
    err = "".join(err_lines)
    assert proc.returncode == 0, err[-2000:]
    assert "Traceback" not in err and not [x for x in err.splitlines() if x.startswith("error:")], err[-2000:]
    summary = {d["stream"]: d["summary"] for d in watch.summaries}
    assert sorted(summary) == names and all(d["error"] is None for d in watch.summaries)
    assert summary["cam2"]["reconnects"] >= 1 and all(summary[n]["reconnects"] == 0 for n in ("cam0", "cam1", "cam3"))
    assert all(s["processed"] > 0 and s["latency_p95_ms"] is not None for s in summary.values())
    assert len([x for x in err.splitlines() if x.split(":")[0] in names and "frames read" in x]) == 4
