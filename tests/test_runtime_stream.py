"""Stream mode: the window equals the full model, sampling, smoothing, live sources and their failures."""

import json
import threading
import time

import cv2
import numpy as np
import pytest
from helpers import MjpegServer, fake_model
from typer.testing import CliRunner

from lrcn.core.errors import SourceError
from lrcn.runtime import VideoClassifier
from lrcn.runtime.preprocess import MODALITIES, PreprocessSpec, apply_modality, normalize
from lrcn.runtime.sources import Frame, LiveSource
from lrcn.runtime.stream import FrameInput

runner = CliRunner()


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    base = tmp_path_factory.mktemp("fakes")
    return {m: fake_model(base / m.replace("+", "_"), modality=m, seed=i) for i, m in enumerate(MODALITIES)}


@pytest.fixture(scope="module")
def video(tiny_data):
    return sorted(tiny_data.rglob("*.avi"))[0]


def video_frames(path) -> list[np.ndarray]:
    cap, out = cv2.VideoCapture(str(path)), []
    while True:
        ok, f = cap.read()
        if not ok:
            return out
        out.append(f)


def vc_run(*args):
    from lrcn.runtime.vcrun.cli import app

    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize("modality", MODALITIES)
def test_frame_input_matches_clip_preprocessing(modality):
    spec = PreprocessSpec(img_size=16, modality=modality)
    rgb = np.random.default_rng(0).integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    fi = FrameInput(spec)
    per_frame = [x for x in (fi(f) for f in rgb) if x is not None]
    np.testing.assert_allclose(np.stack(per_frame), apply_modality(normalize(rgb, spec), modality, rgb), atol=1e-5)


@pytest.mark.parametrize("modality", MODALITIES)
@pytest.mark.parametrize("stateful", [False, True])
def test_window_equals_full_model_on_the_same_frames(fakes, video, modality, stateful):
    clf = VideoClassifier(fakes[modality], device="cpu")
    preds = list(clf.stream(video, sample_fps=0, keep_window=True, stateful=stateful))
    t, s = clf.meta.num_frames, clf.sampled_frames
    assert len(preds) == 12 and [p.ready for p in preds] == [i >= s - 1 for i in range(12)]
    ready = [p for p in preds if p.ready]
    for p in ready[:1] if stateful else ready:  # the step model equals the window from zero state only
        assert p.window.shape == (s, 32, 32, 3)
        np.testing.assert_allclose(p.probs, clf.probs_from_frames(p.window), atol=1e-5)
    assert ready[0].index == s - 1 and t == 4


def test_each_frame_is_encoded_once(fakes, video):
    clf = VideoClassifier(fakes["rgb"], device="cpu")
    enc = clf.model.part("encoder")
    calls = []
    run = enc.run
    enc.run = lambda *a, **k: calls.append(1) or run(*a, **k)
    list(clf.stream(video, sample_fps=0))
    assert len(calls) == 12


def test_sampling_rate_smoothing_and_threshold(fakes, video):
    clf = VideoClassifier(fakes["rgb"], device="cpu")
    assert clf.meta.sample_fps == 5.0
    st = clf.stream(video, sample_fps=10)  # a 30 fps file: every third frame
    preds = list(st)
    assert [p.source_index for p in preds] == [0, 3, 6, 9] and st.stats.read == 12 and st.stats.dropped == 8
    raw = [p.probs for p in clf.stream(video, sample_fps=0) if p.ready]
    smooth = [p.probs for p in clf.stream(video, sample_fps=0, smooth=3) if p.ready]
    np.testing.assert_allclose(smooth[4], np.mean(raw[2:5], axis=0), atol=1e-6)
    assert all(
        p.uncertain and p.shown_label == "uncertain" for p in clf.stream(video, sample_fps=0, threshold=1.0) if p.ready
    )


def test_cli_stream_file_json_and_save(fakes, video, tmp_path):
    out = tmp_path / "annotated.mp4"
    r = vc_run(
        video, "--model", fakes["rgb"], "--device", "cpu", "--stream", "--sample-fps", "0", "--json", "--save", out
    )
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    preds, summaries = rows[:-1], rows[-1:]
    assert [d["frame"] for d in preds] == list(range(3, 12)) and all(d["label"] in "abc" for d in preds)
    assert all(d["stream"] == video.stem and d["latency_ms"] >= 0 and d["predicted"] >= d["captured"] for d in preds)
    assert summaries[0]["stream"] == video.stem and summaries[0]["summary"]["processed"] == 12
    assert "frames read 12, processed 12, dropped 0; 9 predictions" in r.stderr
    assert len(video_frames(out)) == 12
    short = vc_run(video, "--model", fakes["rgb"], "--device", "cpu", "--stream")  # 5 fps: 2 frames of 0.4 s
    assert short.exit_code == 1 and "before the window of 4 filled" in short.stderr


def test_show_without_a_display_fails_in_one_line(fakes, video, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr("sys.platform", "linux")
    r = vc_run(video, "--model", fakes["rgb"], "--device", "cpu", "--show")
    assert r.exit_code == 1 and "error: --show: no display here" in r.stderr


def test_ctrl_c_prints_the_summary_and_exits_cleanly(fakes, video, monkeypatch):
    class Camera:
        """A live source at 100 fps that never ends."""

        live, name, read = True, "camera 7", 0

        def __init__(self):
            self.stop = threading.Event()

        def frames(self):
            frames = video_frames(video)
            while not self.stop.wait(0.01):
                self.read += 1
                yield Frame(frames[self.read % len(frames)], self.read / 100, self.read - 1)

        def close(self):
            self.stop.set()

    printed = []

    def ctrl_c_after_20(row):  # the user presses Ctrl-C while the 20th prediction prints
        printed.append(row)
        if len(printed) == 20:
            raise KeyboardInterrupt
        return json.dumps(row)

    monkeypatch.setattr("lrcn.runtime.vcrun.run_stream.open_source", lambda target, **options: Camera())
    monkeypatch.setattr("lrcn.runtime.vcrun.run_stream.json_line", ctrl_c_after_20)
    r = vc_run("7", "--model", fakes["rgb"], "--device", "cpu", "--sample-fps", "0", "--json")
    assert r.exit_code == 0, r.output
    summary = [x for x in r.stderr.splitlines() if x.startswith("cam7: frames read")]
    assert len(summary) == 1 and "; 20 predictions" in summary[0] and "latency p50" in summary[0], r.stderr


def test_camera_that_cannot_open_fails_in_one_line(fakes):
    cap = cv2.VideoCapture(0)
    if cap.isOpened():
        pytest.skip("this machine has a camera 0")
    r = vc_run("0")  # the camera is opened before a model is even looked for
    assert r.exit_code == 1
    assert r.output == "error: camera 0: cannot be opened (no camera with this index, or it is in use)\n"


def test_url_that_cannot_open_fails_in_one_line(fakes):
    server = MjpegServer([np.zeros((8, 8, 3), np.uint8)]).start()
    url = server.url()
    server.stop()  # the port is now closed
    r = vc_run(url, "--model", fakes["rgb"], "--device", "cpu")
    assert r.exit_code == 1 and r.output.startswith(f"error: {url}: cannot be opened")


def test_live_source_keeps_only_the_newest_frame(video):
    server = MjpegServer(video_frames(video), fps=100).start()
    try:
        src = LiveSource(server.url(), reconnect=0)
        got = []
        for fr in src.frames():
            got.append(fr.index)
            # a consumer slower than the source: it waits until 3 newer frames arrived (not a fixed delay,
            # which a loaded machine could outlast on the source's side)
            deadline = time.monotonic() + 60
            while src.read <= fr.index + 3 and time.monotonic() < deadline:
                time.sleep(0.005)
            if len(got) == 8:
                break
        src.close()
    finally:
        server.stop()
    assert all(b > a for a, b in zip(got, got[1:])) and got[-1] - got[0] > 2 * len(got)
    assert src.read > len(got)


def test_mjpeg_stream_is_classified_and_survives_a_server_restart(fakes, video):
    clf = VideoClassifier(fakes["rgb"], device="cpu")
    server = MjpegServer(video_frames(video), fps=40).start()
    restarted = server.outage(after_sent=20, down_s=0.4)  # once the stream is under way, not after a fixed delay
    preds, after = [], 0
    try:
        with clf.stream(server.url(), sample_fps=0, keep_window=True, reconnect=6, max_frames=400) as st:
            for p in st:
                preds.append(p)
                after += restarted.is_set() and p.ready
                if after >= 10:
                    break
    finally:
        server.stop()
    assert st.stats.reconnects >= 1 and after >= 10
    ready = [p for p in preds if p.ready]
    for p in ready:
        np.testing.assert_allclose(p.probs, clf.probs_from_frames(p.window), atol=1e-5)


def test_stream_that_drops_for_good_is_an_error(video):
    server = MjpegServer(video_frames(video), fps=50).start()
    src = LiveSource(server.url(), reconnect=2, backoff_s=0.05)
    server.wait_sent(10)  # frames went out before the drop, whatever the machine's load
    server.stop()
    with pytest.raises(SourceError, match=r"the stream dropped and 2 reconnect\(s\) failed"):
        for _ in src.frames():
            pass
    src.close()
    assert src.read > 0


@pytest.mark.timeout(60)
def test_real_sigint_on_a_live_stream_prints_the_summary(fakes, video):
    import signal
    import subprocess
    import sys

    server = MjpegServer(video_frames(video), fps=60).start()
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lrcn.runtime.vcrun.cli",
                server.url(),
                "--model",
                str(fakes["rgb"]),
                "--device",
                "cpu",
                "--sample-fps",
                "0",
                "--json",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        lines = [proc.stdout.readline() for _ in range(5)]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        server.stop()
    assert proc.returncode == 0, err
    assert all(json.loads(x)["label"] in "abc" for x in lines)
    summary = [x for x in err.splitlines() if x.startswith(f"127.0.0.1:{server.port}: ")]
    assert len(summary) == 1 and "frames read" in summary[0] and "processed fps" in summary[0]
    assert "Traceback" not in err
