"""A model's region (`vc-train --region`): one fixed part of a camera's view, cut first in training,
clip mode and streams alike; recorded in the model (schema 4) and checked where it is read."""

import json

import numpy as np
import pytest
from helpers import ImageSource, fake_model, walking_square, write_avi

from lrcn.runtime.rect import WHOLE, crop, parse_rect, pixel_box

YARD = (0.0, 0.5, 1.0, 1.0)
"""The lower half of the view."""


def test_a_rect_is_read_from_text_and_bad_ones_are_refused_in_one_line():
    assert parse_rect("0,0.4,1,1") == (0.0, 0.4, 1.0, 1.0)
    for bad, says in [
        ("0,0.4,1", "4 numbers"),
        ("0,a,1,1", "4 numbers"),
        ("0,0.4,1,1.5", "within [0, 1]"),
        ("0,nan,1,1", "within [0, 1]"),
        ("0.5,0,0.5,1", "x0 < x1"),
    ]:
        with pytest.raises(ValueError, match=says.replace("[", r"\[").replace("]", r"\]")):
            parse_rect(bad)


def test_the_crop_is_the_rect_of_the_frame_and_at_least_two_pixels():
    frame = np.arange(10 * 20).reshape(10, 20)
    np.testing.assert_array_equal(crop(frame, YARD), frame[5:10, 0:20])
    assert crop(frame, WHOLE) is frame
    assert pixel_box((0.5, 0.5, 0.5001, 0.5001), 20, 10) == (10, 5, 12, 7)


def test_the_spec_checks_its_region_and_the_metadata_records_it_as_schema_4(tmp_path):
    from lrcn.core.errors import ModelError
    from lrcn.runtime.contract import METADATA_KEY, SCHEMA_VERSION, ModelMetadata
    from lrcn.runtime.preprocess import PreprocessSpec, resize_rgb

    with pytest.raises(ValueError, match="region must"):
        PreprocessSpec(region=(0, 0, 1.2, 1))
    spec = PreprocessSpec(img_size=16, region=[0, 0.5, 1, 1])  # a list, as JSON gives it
    assert spec.region == YARD and PreprocessSpec.from_dict(spec.to_dict()) == spec
    assert PreprocessSpec.from_dict({"img_size": 16}).region == WHOLE  # saved before regions: the whole view
    frame = np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize_rgb(frame, 16, spec.region), resize_rgb(frame[20:40], 16))

    import onnx

    whole = onnx.load(fake_model(tmp_path / "w", name="w"))
    yard = onnx.load(fake_model(tmp_path / "y", name="y", region=YARD))

    def doc(model):
        return json.loads(next(p.value for p in model.metadata_props if p.key == METADATA_KEY))

    assert doc(whole)["schema_version"] == 1  # a whole-view model stays readable by any lrcn
    d = doc(yard)
    assert SCHEMA_VERSION == 4 and d["schema_version"] == 4  # an lrcn from before refuses it: "upgrade lrcn"
    assert ModelMetadata.from_json(json.dumps(d)).preprocess.region == YARD
    from lrcn.export.inspect import format_summary, summarize

    assert "cut: region 0,0.5,1,1 of the view" in format_summary(summarize(tmp_path / "y" / "y.onnx"))
    assert "cut:" not in format_summary(summarize(tmp_path / "w" / "w.onnx"))
    for bad in ([0, 0.5, 1], [0, 0.5, 1, "1"], [0.6, 0.5, 0.4, 1], [0, 0.5, 1, 1e400]):
        d["preprocess"]["region"] = bad
        with pytest.raises(ModelError, match="preprocess.region"):
            ModelMetadata.from_json(json.dumps(d), "m.onnx")


def lower_half_scene(n=14):
    """A square moving in the lower half; above it a bar crossing the width (the road)."""
    frames = walking_square(n=n, box=(70, 80, 110, 100))
    for t in range(n):
        x = 10 * t % 160
        frames[t, 10:30, x : x + 20] = 240
    return frames


@pytest.mark.parametrize("modality", ["rgb", "diff"])
def test_a_region_models_stream_sees_what_clip_mode_sees_and_only_its_region(tmp_path, modality):
    from lrcn.runtime import VideoClassifier

    clf = VideoClassifier(fake_model(tmp_path / "y", modality=modality, region=YARD), device="cpu")
    assert clf.meta.preprocess.region == YARD
    frames = lower_half_scene()
    video = write_avi(tmp_path / "v.avi", frames)
    ready = [p for p in clf.stream(video, sample_fps=0, keep_window=True) if p.ready]
    assert len(ready) == len(frames) - clf.sampled_frames + 1
    for p in ready:
        np.testing.assert_allclose(p.probs, clf.probs_from_frames(p.window), atol=1e-5)
    # the window holds the lower half only: the road's bright bar is not in it
    assert ready[0].window.shape[1:] == (32, 32, 3) and ready[0].window.max() < 235
    # clip mode decodes the file's first S frames to the same input
    first = write_avi(tmp_path / "first.avi", frames[: clf.sampled_frames])
    np.testing.assert_allclose(clf.predict(first).probs, ready[0].probs, atol=1e-5)
    plain = VideoClassifier(fake_model(tmp_path / "w", modality=modality), device="cpu")
    assert not np.allclose(plain.predict(first).probs, clf.predict(first).probs, atol=1e-4)


def test_training_reads_the_region_the_cache_keeps_it_apart_and_auto_zoom_looks_inside_it(tmp_path):
    from lrcn.runtime.video import read_clip
    from lrcn.train.config import DataConfig
    from lrcn.train.data import Sample, cache_clip, clip_cache_path, load_cached
    from lrcn.train.recipe import survey

    video = write_avi(tmp_path / "v.avi", lower_half_scene(n=16))
    cut = read_clip(video, 8, 32, region=YARD)
    assert not np.array_equal(cut.frames, read_clip(video, 8, 32).frames)
    assert clip_cache_path(tmp_path, video, 8, 32, region=YARD) != clip_cache_path(tmp_path, video, 8, 32)
    cfg = DataConfig(root=str(tmp_path), img_size=32, num_frames=7, region=list(YARD), cache_dir=str(tmp_path / "c"))
    np.testing.assert_array_equal(load_cached(cache_clip(Sample(str(video), 0, "g"), 8, cfg)), cut.frames)
    with pytest.raises(ValueError, match="region must"):
        DataConfig(region=[0, 0, 0, 1])
    # the road widens the whole view's motion box; inside the region only the square moves
    assert survey([str(video)]).shares[0] == 1.0
    assert survey([str(video)], region=YARD).shares[0] <= 0.5


@pytest.mark.slow
def test_vc_train_takes_a_region_the_export_records_it_and_a_bad_one_fails_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from lrcn.export import export_run
    from lrcn.runtime import VideoClassifier
    from lrcn.train.cli import app

    data = tmp_path / "d"
    for c in ("a", "b"):
        (data / c).mkdir(parents=True)
        for i in range(3):
            write_avi(data / c / f"v_{c}_g{i:02d}_c001.avi", lower_half_scene(n=8))
    r = CliRunner().invoke(app, ["--data", str(data), "--region", "0,0.5,1,2", "--out", str(tmp_path / "bad")])
    assert r.exit_code == 2 and "--region must be 4 numbers" in r.output, r.output
    run = tmp_path / "run"
    args = ["--data", data, "--region", "0,0.5,1,1", "--recipe", "default", "--frames", "4", "--img-size", "32"]
    args += ["--epochs", "1", "--latent-dim", "8", "--hidden-size", "8", "--device", "cpu", "--out", run]
    r = CliRunner().invoke(app, [str(a) for a in args + ["--cache-dir", tmp_path / "cache"]])
    assert r.exit_code == 0, r.output
    assert "region 0,0.5,1,1: every frame is cut to it first" in r.output
    assert json.loads((run / "config.json").read_text())["data"]["region"] == list(YARD)
    r = CliRunner().invoke(app, ["--resume", str(run), "--region", "0,0,1,1"])
    assert r.exit_code == 2 and "--resume keeps the run's own region" in r.output, r.output
    export_run(run, tmp_path / "m.onnx")
    clf = VideoClassifier(tmp_path / "m.onnx", device="cpu")
    assert clf.meta.preprocess.region == YARD and clf.meta.schema_version == 4


def test_with_a_zone_the_region_is_taken_of_the_zones_crop(tmp_path):
    """A view in four flat quadrants; the zone is its right half, the model's region the lower half of
    what it is given: the model sees the lower right quadrant only."""
    from lrcn.runtime import VideoClassifier
    from lrcn.runtime.zones import Zone, split_zones

    img = np.empty((40, 80, 3), np.uint8)
    img[:20, :40], img[:20, 40:], img[20:, :40], img[20:, 40:] = 10, 60, 110, 200
    clf = VideoClassifier(fake_model(tmp_path / "y", region=YARD), device="cpu")
    (right,) = split_zones(ImageSource([img] * 10, name="cam"), [Zone("right", (0.5, 0.0, 1.0, 1.0))])
    ready = [p for p in clf.stream(right, sample_fps=0, keep_window=True) if p.ready]
    assert ready and all((p.window == 200).all() for p in ready)
