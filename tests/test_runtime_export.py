"""The runtime on a really trained and exported model: PyTorch's top-1 on every test clip, exact streams."""

import json

import numpy as np
import pytest
from helpers import MjpegServer
from typer.testing import CliRunner

from lrcn.runtime import VideoClassifier

pytestmark = pytest.mark.slow
runner = CliRunner()


def torch_probs(run, paths, spec, num):
    import torch

    from lrcn.models.checkpoint import model_from_checkpoint
    from lrcn.runtime.preprocess import prepare_clip
    from lrcn.runtime.video import read_clip

    model, _ = model_from_checkpoint(run / "best.pt")
    x = np.stack([prepare_clip(read_clip(p, num, spec.img_size).frames, spec) for p in paths])
    with torch.inference_mode():
        return torch.softmax(model(torch.from_numpy(x)), dim=-1).numpy()


def test_vc_run_reproduces_pytorch_top1_on_every_test_clip(tiny_run, exported_tiny_run):
    from lrcn.runtime.vcrun.cli import app

    test = json.loads((tiny_run / "splits.json").read_text())["test"]
    paths = [t["path"] for t in test]
    r = runner.invoke(app, [*paths, "--model", str(exported_tiny_run), "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    clf = VideoClassifier(exported_tiny_run, device="cpu")
    ref = torch_probs(tiny_run, paths, clf.meta.preprocess, clf.sampled_frames)
    assert [d["source"] for d in rows] == paths and len(paths) >= 6
    assert [d["label"] for d in rows] == [clf.class_names[i] for i in ref.argmax(axis=1)]
    got = np.array([[dict(d["top_k"])[n] for n in clf.class_names] for d in rows])
    np.testing.assert_allclose(got, ref, atol=1e-5)


def test_stream_window_and_state_equal_the_full_model(tiny_run, exported_tiny_run):
    clf = VideoClassifier(exported_tiny_run, device="cpu")
    video = json.loads((tiny_run / "splits.json").read_text())["test"][0]["path"]
    window = [p for p in clf.stream(video, sample_fps=0, keep_window=True) if p.ready]
    assert len(window) == 12 - clf.meta.num_frames + 1
    for p in window:
        assert np.abs(p.probs - clf.probs_from_frames(p.window)).max() <= 1e-5
    first = next(p for p in clf.stream(video, sample_fps=0, keep_window=True, stateful=True) if p.ready)
    assert np.abs(first.probs - clf.probs_from_frames(first.window)).max() <= 1e-5


def test_int8_variant_streams_with_its_int8_parts(tiny_run, exported_tiny_run):
    """vc-export's int8 variant lists int8 encoder/step parts: the runtime streams with them and
    agrees with the fp32 model's top-1 on every window (tiny clips; the export gate checks 98%)."""
    int8 = exported_tiny_run.with_name("convlstm.int8.onnx")
    clf8, clf = VideoClassifier(int8, device="cpu"), VideoClassifier(exported_tiny_run, device="cpu")
    video = json.loads((tiny_run / "splits.json").read_text())["test"][0]["path"]
    for stateful in (False, True):
        got = [p for p in clf8.stream(video, sample_fps=0, keep_window=True, stateful=stateful) if p.ready]
        assert got and clf8.model.part("step" if stateful else "encoder").path.name.startswith("convlstm.int8.")
        for p in got[:1] if stateful else got:  # the state carries on past the first window
            ref = np.sort(clf.probs_from_frames(p.window))
            assert np.abs(p.probs - clf.probs_from_frames(p.window)).max() < 0.05
            if ref[-1] - ref[-2] > 0.05:  # a clear fp32 winner must stay the winner
                assert p.probs.argmax() == clf.probs_from_frames(p.window).argmax()


def test_live_mjpeg_stream_with_the_exported_model(tiny_run, exported_tiny_run):
    import cv2

    clf = VideoClassifier(exported_tiny_run, device="cpu")
    video = json.loads((tiny_run / "splits.json").read_text())["test"][0]["path"]
    cap, frames = cv2.VideoCapture(video), []
    while (f := cap.read())[0]:
        frames.append(f[1])
    server = MjpegServer(frames, fps=40).start()
    restarted = server.outage(after_sent=16, down_s=0.3)  # once the stream is under way, not after a fixed delay
    after = 0
    try:
        with clf.stream(server.url(), sample_fps=0, keep_window=True, reconnect=6, max_frames=400) as st:
            for p in st:
                if p.ready:
                    assert np.abs(p.probs - clf.probs_from_frames(p.window)).max() <= 1e-5
                    assert p.label in clf.class_names
                    after += restarted.is_set()
                if after >= 8:
                    break
    finally:
        server.stop()
    assert st.stats.reconnects >= 1 and after >= 8
