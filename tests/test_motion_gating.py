"""Motion gating in the engine: static frames skip the encoder, reuse the exact feature, count as gated."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from helpers import ImageSource, fake_model

from lrcn.runtime import VideoClassifier
from lrcn.runtime.motion import MotionConfig
from lrcn.runtime.stream import StreamConfig


@pytest.fixture(scope="module")
def fakes(tmp_path_factory):
    base = tmp_path_factory.mktemp("fakes")
    return {
        m: fake_model(base / m.replace("+", "_"), modality=m, seed=i) for i, m in enumerate(("rgb", "diff", "rgb+diff"))
    }


def scene(x: int | None) -> np.ndarray:
    """A 48x64 textured still view; a bright 12x12 square at column x (None: no square)."""
    img = (np.indices((48, 64)).sum(axis=0)[..., None] * np.array([3, 5, 7]) % 200).astype(np.uint8)
    if x is not None:
        img[18:30, x : x + 12] = 250
    return img


def run(clf, images, motion):
    multi = clf.streams({"cam": ImageSource(images)}, sample_fps=0, motion=motion)
    with multi:
        preds = [p for p in multi if p.ready]
        stats = multi.stats(0)
    return preds, stats, multi.engine


def test_a_static_clip_skips_the_encoder_and_gives_identical_probabilities(fakes):
    clf = VideoClassifier(fakes["rgb"], device="cpu")
    images = [scene(None)] * 30
    plain, plain_stats, plain_engine = run(clf, images, None)
    gated, stats, engine = run(clf, images, MotionConfig())
    assert plain_engine.encoded == 30 and engine.encoded == 1  # only the first frame runs the CNN
    assert plain_engine.encoded >= 2 * engine.encoded
    assert stats.gated == 29 and plain_stats.gated is None
    assert [p.gated for p in gated] == [True] * len(gated) and all(p.gated is None for p in plain)
    assert len(gated) == len(plain) == 27  # the head still ran on every frame once the window filled
    for a, b in zip(plain, gated):
        assert np.array_equal(a.probs, b.probs)  # identical frames, identical features: exact
    assert "gated" in gated[0].to_dict() and "gated" not in plain[0].to_dict()
    assert stats.to_dict()["gated"] == 29 and "gated by motion" in stats.summary()


def test_moving_parts_run_the_encoder_and_predict_as_ungated(fakes):
    clf = VideoClassifier(fakes["rgb"], device="cpu")
    images = [scene(None)] * 20 + [scene(4 + 3 * i) for i in range(12)] + [scene(40)] * 20
    plain, _, plain_engine = run(clf, images, None)
    gated, stats, engine = run(clf, images, MotionConfig(max_gap=1000))
    assert stats.gated == 19 + 19 and engine.encoded == len(images) - stats.gated
    assert plain_engine.encoded >= 2 * engine.encoded
    for a, b in zip(plain, gated, strict=True):  # gated frames equal the last one the CNN saw: exact
        assert a.source_index == b.source_index and np.array_equal(a.probs, b.probs)
    assert all(not p.gated for p in gated if 20 <= p.source_index < 32)


def test_diff_input_reuses_the_zero_difference_feature(fakes):
    clf = VideoClassifier(fakes["diff"], device="cpu")
    images = [scene(None)] * 12 + [scene(8 + 4 * i) for i in range(6)] + [scene(50)] * 12
    plain, _, plain_engine = run(clf, images, None)
    gated, stats, engine = run(clf, images, MotionConfig(max_gap=1000))
    # the priming frame runs nothing; of the 29 differences, the 11 + 11 still ones are zero
    assert plain_engine.encoded == 29
    assert stats.gated == 11 + 11 and engine.encoded == 29 - stats.gated + 1  # +1: the zero feature, once
    for a, b in zip(plain, gated):
        assert np.allclose(a.probs, b.probs, atol=1e-6)


def test_stateful_and_rgb_diff_run_ungated_with_a_warning(fakes, caplog):
    images = [scene(None)] * 8
    with caplog.at_level(logging.WARNING, logger="lrcn.runtime.scheduler"):
        for path, stateful in ((fakes["rgb"], True), (fakes["rgb+diff"], False)):
            clf = VideoClassifier(path, device="cpu")
            multi = clf.streams({"cam": ImageSource(images)}, sample_fps=0, stateful=stateful, motion=MotionConfig())
            with multi:
                assert len([p for p in multi if p.ready]) >= 1
                assert multi.handles[0].gate is None and multi.stats(0).gated is None
    assert sum("motion gating off" in r.getMessage() for r in caplog.records) == 2


def test_the_engine_refuses_gated_rows_in_stateful_mode(fakes):
    from lrcn.runtime.engine import BatchEngine

    clf = VideoClassifier(fakes["rgb"], device="cpu")
    engine = BatchEngine.for_model(clf.model, True)
    st = engine.new_state(clf.meta.preprocess)
    with pytest.raises(ValueError, match="window mode"):
        engine.run([st], [np.zeros((3, 32, 32), np.float32)], [True])


def test_stream_config_carries_motion():
    assert StreamConfig(motion=MotionConfig(pixel_delta=20)).motion.pixel_delta == 20


def test_vc_run_motion_flag_refuses_what_it_cannot_do_in_one_line(fakes, tmp_path):
    from helpers import error_lines, vc_run, write_avi

    video = write_avi(tmp_path / "still.avi", [scene(None)] * 12)
    bad = {
        ("--motion", "x,y"): "numbers",
        ("--motion", "on", "--stateful"): "window mode",
        ("--motion", "300"): "pixel_delta",
    }
    for args, why in bad.items():
        r = vc_run(video, "--model", fakes["rgb"], *args)
        assert r.exit_code == 2 and len(error_lines(r)) == 1 and why in r.stderr, (args, r.stderr)
    r = vc_run(video, "--model", fakes["rgb+diff"], "--motion", "on")
    assert r.exit_code == 2 and "rgb+diff input" in r.stderr
    r = vc_run(video, "--model", fakes["rgb"], "--motion", "12,0.01", "--sample-fps", "0", "--json")
    assert r.exit_code == 0, r.output
    summary = [json.loads(x)["summary"] for x in r.stdout.splitlines() if '"summary"' in x]
    assert summary[0]["gated"] == 11 and summary[0]["processed"] == 12


def test_a_model_swap_remakes_each_streams_gate_for_the_new_model(fakes):
    """After `MultiStream.swap` a gated stream keeps its count and is gated again only if the new
    model allows it (rgb+diff does not); a fresh reference means the first frame after runs the CNN."""
    rgb, both = (VideoClassifier(fakes[m], device="cpu") for m in ("rgb", "rgb+diff"))
    multi = rgb.streams({"cam": ImageSource([scene(None)] * 12)}, sample_fps=0, motion=MotionConfig())
    with multi:
        assert len([p for p in multi if p.ready]) >= 1
        h = multi.handles[0]
        before = h.state.gated
        assert before == 11 and h.gate is not None and h.feeder.motion_size == h.gate.cfg.size
        multi.swap(both)
        assert h.gate is None and h.feeder.motion_size is None and h.state.gated == before
        multi.swap(VideoClassifier(fakes["rgb"], device="cpu"))
        assert h.gate is not None and h.gate.frames == 0 and h.state.gated == before


def test_a_region_models_gate_watches_its_region_only(tmp_path):
    """Motion above a model's region (the lower half here) does not wake its encoder; a whole-view
    model runs on every such frame."""
    lower = VideoClassifier(fake_model(tmp_path / "lower", region=(0.0, 0.5, 1.0, 1.0)), device="cpu")
    whole = VideoClassifier(fake_model(tmp_path / "whole"), device="cpu")
    images = [scene(None).copy() for _ in range(20)]
    for i, img in enumerate(images):
        img[2:14, 2 + 2 * i : 14 + 2 * i] = 250  # a square crossing the upper half only
    _, stats, engine = run(lower, images, MotionConfig(max_gap=1000))
    assert engine.encoded == 1 and stats.gated == 19
    _, stats, engine = run(whole, images, MotionConfig(max_gap=1000))
    assert engine.encoded == 20 and stats.gated == 0
