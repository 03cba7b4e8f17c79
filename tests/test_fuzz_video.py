"""Fuzzing the video readers: no crash, no hang, only lrcn's own errors (the loop is in tests/fuzz_video.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from conftest import REPO, SHARED_VIDEOS

EXAMPLES = 300
TIMEOUT_S = 3.0  # each decode's watchdog


def seeds(folder):
    """Small real videos to mutate: two the test writes (MJPG AVI, MPEG-4 MP4) and small shared ones."""
    folder.mkdir()
    for name, fourcc in (("seed.avi", "MJPG"), ("seed.mp4", "mp4v")):
        wr = cv2.VideoWriter(str(folder / name), cv2.VideoWriter_fourcc(*fourcc), 10, (32, 24))
        for i in range(6):
            wr.write(np.full((24, 32, 3), 40 * i, np.uint8))
        wr.release()
    for name in ("carphone_qcif_distorted.mp4", "av1_video.mkv"):  # H.264 in MP4; AV1 (the PyAV path)
        if (SHARED_VIDEOS / name).is_file():
            shutil.copy(SHARED_VIDEOS / name, folder / name)
    return folder


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_fuzzed_videos_never_crash_hang_or_raise_foreign_errors(tmp_path):
    cmd = [
        sys.executable,
        str(REPO / "tests" / "fuzz_video.py"),
        str(seeds(tmp_path / "seeds")),
        str(EXAMPLES),
        str(TIMEOUT_S),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCV_")}  # lrcn's own log defaults
    # the whole loop is bounded too: a decode that hung outside the watchdog would end here
    r = subprocess.run(cmd, capture_output=True, text=True, errors="replace", cwd=REPO, env=env, timeout=150)
    assert r.returncode == 0, (
        f"exit {r.returncode} (negative: killed by that signal)\n{r.stdout[-2000:]}{r.stderr[-3000:]}"
    )
    line = r.stdout.strip().splitlines()[-1]
    assert line.startswith(f"fuzz ok: {EXAMPLES} inputs"), r.stdout
    assert r.stderr == "", r.stderr[-2000:]  # no decoder noise either: a refusal is our one line, nothing more
    print(line)
