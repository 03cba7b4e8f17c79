"""--show and --save: one mosaic of all streams, readable tiles, files shown at their own frame rate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import REPO
from helpers import fake_model

from lrcn.runtime.stream import StreamPrediction
from lrcn.runtime.vcrun.display import BAND, BAR, draw_tile, mosaic, tile_width


def write_video(path: Path, frames: int, fps: float, size=(64, 48)) -> Path:
    wr = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    for i in range(frames):
        img = np.zeros((size[1], size[0], 3), np.uint8)
        cv2.circle(img, (int(size[0] * i / frames), size[1] // 2), size[1] // 4, (0, 200, 255), -1)
        wr.write(img)
    wr.release()
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("display")
    return {
        "model": fake_model(d / "m"),
        "a": write_video(d / "a.avi", 150, 30),
        "b": write_video(d / "b.avi", 100, 25, size=(128, 128)),
        "dir": d,
    }


def pred(p: float = 0.7) -> StreamPrediction:
    top = [("walk", p), ("run", 1 - p - 0.05), ("sit", 0.05)]
    return StreamPrediction(
        9,
        9,
        0.3,
        np.array([v for _, v in top]),
        "walk",
        p,
        top,
        False,
        1.0,
        np.zeros((128, 128, 3), np.uint8),
        stream="door",
    )


def band_pixels(img: np.ndarray) -> int:
    return int(np.all(img == BAND, axis=2).sum())


def test_a_tile_is_scaled_up_with_a_solid_band_and_top_k_bars():
    tile = draw_tile(np.full((128, 128, 3), 200, np.uint8), "door", pred(0.7), 24.8, tile_width(1), 4)
    w = tile_width(1)
    assert w == 640 and tile.shape[1] == w and tile.shape[0] > w * 3 // 4
    band = tile[w * 3 // 4 :]
    assert band_pixels(band) > 0.6 * band.size / 3  # a solid band, text and bars on it
    bar_rows = np.all(band == BAR, axis=2)
    longest = bar_rows.sum(axis=1).max()
    assert abs(longest - 0.7 * (w // 2 - 12)) <= 2  # the top-1 bar is 70% long
    picture = tile[: w * 3 // 4]
    assert (np.all(picture == 200, axis=2).sum(axis=1).max()) >= 400  # 128 px scaled up to the tile (letterboxed)
    grid = mosaic([tile, tile, tile])
    assert grid.shape == (2 * tile.shape[0], 2 * w, 3) and not grid[tile.shape[0] :, w:].any()


def test_save_writes_the_mosaic_of_every_stream(setup, tmp_path):
    from typer.testing import CliRunner

    from lrcn.runtime.vcrun.cli import app

    out = tmp_path / "mosaic.mp4"
    r = CliRunner().invoke(
        app,
        [
            str(setup["a"]),
            str(setup["b"]),
            "--stream",
            "--model",
            str(setup["model"]),
            "--device",
            "cpu",
            "--sample-fps",
            "0",
            "--max-frames",
            "20",
            "--save",
            str(out),
        ],
    )
    assert r.exit_code == 0, r.output
    cap = cv2.VideoCapture(str(out))
    ok, first = cap.read()
    n = 1
    while cap.read()[0]:
        n += 1
    w = tile_width(2)
    assert ok and first.shape[1] == 2 * w and 20 <= n <= 40  # one frame per tick; 2 x 20 frames, batched
    band = first[w * 3 // 4 + 4 : w * 3 // 4 + 14, 4:120]
    assert np.abs(band.astype(int) - BAND[0]).mean() < 12  # the band survives the codec


@pytest.fixture
def xvfb():
    if not shutil.which("Xvfb") or not shutil.which("import"):
        pytest.skip("needs Xvfb and ImageMagick's import (apt-get install xvfb imagemagick)")
    # -displayfd: Xvfb picks a free display itself and writes its number, so parallel runs never share one
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "1600x1200x24", "-nolisten", "tcp"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    number = proc.stdout.readline().strip()
    if not number.isdigit():
        proc.kill()
        pytest.skip("Xvfb did not start")
    # Xvfb names its display as soon as it listens; wait until it serves a client (a screenshot), so the
    # first window of the test never races the server's start (seen once in a full run: no window)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        probe = subprocess.run(
            ["import", "-display", f":{number}", "-window", "root", "png:-"],
            capture_output=True,
            timeout=20,
            check=False,
        )
        if probe.returncode == 0:
            break
        time.sleep(0.2)
    yield f":{number}"
    proc.terminate()
    proc.wait(timeout=10)


def vc_run_shown(setup, display: str, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "DISPLAY": display}
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lrcn.runtime.vcrun.cli",
            str(setup["a"]),
            str(setup["b"]),
            "--stream",
            "--show",
            "--json",
            "--model",
            str(setup["model"]),
            "--device",
            "cpu",
            "--sample-fps",
            "0",
            *extra,
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def spans(stdout: str) -> dict[str, tuple[float, float]]:
    """Per stream: (wall seconds from the first frame's capture to the last prediction, media seconds between them)."""
    rows = [json.loads(x) for x in stdout.splitlines()]
    by: dict[str, list] = {}
    for d in rows:
        if "label" in d:
            by.setdefault(d["stream"], []).append(d)
    return {k: (v[-1]["predicted"] - v[0]["captured"], v[-1]["t"] - v[0]["t"]) for k, v in by.items()}


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_show_draws_one_mosaic_window_and_plays_files_at_their_frame_rate(setup, xvfb, tmp_path):
    proc = vc_run_shown(setup, xvfb)
    shot, seen, bars = tmp_path / "shot.png", 0, 0
    try:
        deadline = time.monotonic() + 40
        while proc.poll() is None and time.monotonic() < deadline:
            subprocess.run(
                ["import", "-display", xvfb, "-window", "root", str(shot)], capture_output=True, timeout=20, check=False
            )
            img = cv2.imread(str(shot)) if shot.exists() else None
            seen = band_pixels(img) if img is not None else 0
            bars = int(np.all(img == BAR, axis=2).sum()) if img is not None else 0
            if seen > 2 * 400 * 100 and bars > 1000:  # two tiles' solid bands, and the top-k bars (drawn
                break  # once a window has filled), are on the screen
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-2000:]
    assert seen > 2 * 400 * 100, f"no mosaic on the screen (band pixels {seen})"
    assert bars > 1000, f"no top-k bars on the screen ({bars} pixels)"
    played = spans(out)  # 150 frames at 30 fps and 100 at 25 fps: ~5 s and ~4 s of media, shown in real time
    assert all(wall >= 0.97 * media and media > 3.5 for wall, media in played.values()), played
    fast = vc_run_shown(setup, xvfb, "--fast")
    out, err = fast.communicate(timeout=60)
    assert fast.returncode == 0, err[-2000:]
    wall, media = spans(out)["a"]
    # --fast: as fast as it is classified. Compared with the paced run of the same file on the same machine,
    # not with a fixed share of its media time: a loaded CI machine may classify slower than real time.
    assert wall < played["a"][0], (spans(out), played)
