"""Clip mode: training's sampling and preprocessing, --clips, and what vc-run prints and returns."""

import csv
import json

import numpy as np
import pytest
from helpers import fake_model, vc_run
from typer.testing import CliRunner

from lrcn.runtime import VideoClassifier
from lrcn.runtime.preprocess import prepare_clip
from lrcn.runtime.video import clip_windows, decode_video, read_clip

runner = CliRunner()


@pytest.fixture(scope="module")
def fake_diff(tmp_path_factory):
    return fake_model(tmp_path_factory.mktemp("fake_diff"), modality="rgb+diff", seed=1)


@pytest.mark.parametrize("which", ["fake", "fake_diff"])
def test_predict_uses_trainings_sampling_and_preprocessing(request, which, tiny_data):
    clf = VideoClassifier(request.getfixturevalue(which), device="cpu", top_k=2)
    video = next(tiny_data.rglob("*.avi"))
    p = clf.predict(video)
    clip = read_clip(video, clf.sampled_frames, clf.meta.preprocess.img_size)  # what training caches
    ref = clf.model.probs(prepare_clip(clip.frames, clf.meta.preprocess)[None])[0]
    np.testing.assert_allclose(p.probs, ref, atol=1e-6)
    assert p.label == clf.class_names[int(ref.argmax())] and p.probability == pytest.approx(ref.max())
    assert [n for n, _ in p.top_k] == [clf.class_names[i] for i in np.argsort(-ref)[:2]]
    assert p.frames == 12 and set(p.timings) == {"decode", "preprocess", "infer", "total"}


def test_clips_average_evenly_spaced_windows(fake, tiny_data):
    clf = VideoClassifier(fake, device="cpu")
    video = next(tiny_data.rglob("*.avi"))
    p = clf.predict(video, clips=3)
    decoded = decode_video(video, clf.meta.preprocess.img_size)
    windows = clip_windows(len(decoded.frames), clf.sampled_frames, 3)
    assert len(windows) == 3 == p.clips
    ref = np.mean([clf.probs_from_frames(decoded.frames[w]) for w in windows], axis=0)
    np.testing.assert_allclose(p.probs, ref, atol=1e-6)


def test_folder_table_json_and_csv(fake, tiny_data, tmp_path):
    n = len(list(tiny_data.rglob("*.avi")))
    r = vc_run(tiny_data, "--model", fake, "--device", "cpu", "--csv", tmp_path / "out.csv")
    assert r.exit_code == 0, r.output
    assert "providers CPUExecutionProvider" in r.output and "top-1" in r.output
    rows = list(csv.DictReader(open(tmp_path / "out.csv")))
    assert len(rows) == n and all(row["label"] in ("a", "b", "c") and not row["error"] for row in rows)
    r = vc_run(tiny_data / "grow", "--model", fake, "--device", "cpu", "--json", "--top-k", "2")
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert r.exit_code == 0 and len(lines) == 12
    assert all(len(d["top_k"]) == 2 and d["label"] == d["top_k"][0][0] for d in lines)


def test_failures_are_named_and_the_rest_classified(fake, tiny_data, tmp_path):
    good = sorted(tiny_data.rglob("*.avi"))[:2]
    (tmp_path / "broken.avi").write_bytes(b"RIFF not really a video")
    r = vc_run(
        *good,
        tmp_path / "broken.avi",
        tmp_path / "absent.mp4",
        tmp_path / "*.webm",
        "--model",
        fake,
        "--device",
        "cpu",
        "--json",
    )
    assert r.exit_code == 1
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [("error" in d) for d in rows] == [False, False, True, True, True]
    for bad in ("broken.avi", "absent.mp4: no such file", "*.webm: no file matches"):
        assert f"error: {tmp_path / bad}" in r.stderr
    assert "classified 2 of 5; 3 failed" in r.stderr and "Traceback" not in r.output


def test_every_shared_video_is_classified_or_refused_in_one_line(fake, shared_videos):
    files = sorted(p for p in shared_videos.iterdir() if p.is_file() and not p.name.endswith(".md"))
    r = vc_run(*files, "--model", fake, "--device", "cpu", "--json")
    assert "Traceback" not in r.output
    rows = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert [d["source"] for d in rows] == [str(f) for f in files]
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == sum("error" in d for d in rows) and r.exit_code == (1 if errors else 0)
    assert all(d["label"] in ("a", "b", "c") for d in rows if "error" not in d)
