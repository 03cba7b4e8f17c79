"""vc-run as a real process: it ends with 0, 1 or 2, never an abort from a decoder thread left in OpenCV.

Before the fix, 6 of 6 runs of the clip-mode case and 2 of 5 of the stream case (5 of 5 on the
2-core test machine) died with SIGABRT ("FATAL: exception not rethrown", exit 134): the process
exited while a decoder thread was still inside OpenCV.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import REPO
from helpers import write_avi

pytestmark = pytest.mark.slow
RUNS = 10  # per case; two processes at a time


def vc_run_process(*args: str, code: str | None = None) -> subprocess.CompletedProcess:
    """`python -m lrcn.runtime.vcrun.cli ARGS` (the console script's path through App.__call__), or `code` given ARGS."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
    cmd = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "lrcn.runtime.vcrun.cli", *args]
    # generous: a run takes about 2 s; the bound only stops a hung process from hanging the suite
    return subprocess.run(cmd, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """200 frames of 640x480 MJPG: decoding takes far longer than the 0.05 s the clip case allows."""
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    frames = [np.roll(base, 7 * i, axis=1) for i in range(200)]
    return write_avi(tmp_path_factory.mktemp("exit") / "big.avi", frames)


@pytest.mark.parametrize("case", ["clip timeout", "stream max-frames"])
def test_vc_run_exits_with_a_documented_code_every_time(fake, big, case):
    args = [str(big), "--model", str(fake), "--device", "cpu", "--json"]
    args += (
        ["--decode-timeout", "0.05"]
        if case == "clip timeout"
        else ["--stream", "--sample-fps", "0", "--max-frames", "5"]
    )
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: vc_run_process(*args), range(RUNS)))
    codes = [r.returncode for r in runs]
    assert all(c in (0, 1, 2) for c in codes), (codes, [r.stderr[-300:] for r in runs if r.returncode not in (0, 1, 2)])
    for r in runs:
        rows = [json.loads(x) for x in r.stdout.splitlines()]
        if case == "clip timeout":
            assert r.returncode == 1 and rows[0]["error"] == f"{big}: decoding took longer than 0.05 s", r.stderr
        else:
            preds = [d for d in rows if "summary" not in d]  # --json ends a stream with its summary row
            assert r.returncode == 0 and len(preds) == 2, r.stderr  # 5 frames, a window of 4: 2 predictions


STUCK = """
import atexit, sys, threading
from lrcn.runtime import decode

class StuckCapture:
    '''Frames of 24x24 at 25 fps, once read() is called, never returns, whatever stop says: a native hang.'''
    def isOpened(self): return True
    def get(self, prop): return 25.0 if prop == 5 else 24.0
    def read(self): threading.Event().wait()
    def release(self): pass

decode.open_file_capture = lambda path: StuckCapture()
atexit.register(print, "interpreter finalised")
from lrcn.runtime.vcrun.cli import app
app(sys.argv[1:], prog_name="vc-run")
"""


@pytest.mark.parametrize("mode", [["--decode-timeout", "0.5"], ["--stream", "--stream-timeout", "0.5"]])
def test_a_thread_stuck_for_good_is_left_without_finalisation_and_the_output_is_flushed(fake, tmp_path, mode):
    video = tmp_path / "stuck.avi"
    video.write_bytes(b"not read: the capture is faked")
    r = vc_run_process(str(video), "--model", str(fake), "--device", "cpu", "--json", *mode, code=STUCK)
    assert r.returncode == 1, (r.returncode, r.stderr[-500:])
    assert "interpreter finalised" not in r.stdout  # os._exit: no atexit, no finalisation over the stuck thread
    assert f"error: {video}: " in r.stderr  # flushed before leaving
    if "--stream" not in mode:  # clip mode also writes a JSON row per failed file
        row = json.loads(r.stdout.splitlines()[0])
        assert row["source"] == str(video) and row["error"].startswith(f"{video}: ")
