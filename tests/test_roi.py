"""The motion zoom (`--zoom motion`): the box, decoding, the cache, metadata, streams = clips, the search lever."""

import cv2
import numpy as np
import pytest
from helpers import fake_model, walking_square, write_avi

from lrcn.runtime.roi import FIRST_GEOMETRY, ZoomGeometry, motion_box, work_size, zoom_clip

G = ZoomGeometry()
"""Today's geometry (what new models are cut with)."""


def test_the_box_holds_the_motion_keeps_the_frame_aspect_and_stays_inside():
    frames = walking_square()
    x0, y0, x1, y1 = motion_box(frames, G)
    h, w = frames.shape[1:3]
    assert 0 <= x0 < x1 <= w and 0 <= y0 < y1 <= h
    assert x0 <= 120 and x1 >= 160 and y0 <= 30 and y1 >= 70  # the square's whole path
    assert (x1 - x0) <= w / 2 and abs((x1 - x0) / w - (y1 - y0) / h) < 0.02  # a zoom of the frame
    assert (x1 - x0) >= w / G.max_zoom - 1


def test_a_still_clip_keeps_the_whole_frame_and_a_tiny_motion_is_zoomed_at_most_max_zoom():
    still = walking_square(still=True)
    assert motion_box(still, G) == (0, 0, 180, 120)
    x0, y0, x1, y1 = motion_box(walking_square(box=(10, 10, 26, 26)), G)  # a square that moves 4 px
    assert x1 - x0 == round(180 / G.max_zoom) and y1 - y0 == round(120 / G.max_zoom)


def test_motion_everywhere_keeps_the_whole_frame():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (8, 60, 80, 3), dtype=np.uint8)
    assert motion_box(frames, G) == (0, 0, 80, 60)


def test_zoom_clip_makes_the_moving_thing_bigger():
    frames = walking_square()
    big = np.stack([cv2.resize(f, (work_size(32, G),) * 2) for f in frames])
    zoomed = zoom_clip(big, 32, G)
    plain = np.stack([cv2.resize(f, (32, 32)) for f in frames])
    assert zoomed.shape == (16, 32, 32, 3) and zoomed.dtype == np.uint8

    def green(x):
        return int(((x[..., 1] > 150) & (x[..., 0] < 100)).sum())

    assert green(zoomed) > 2 * green(plain)


def test_read_clip_zooms_and_the_cache_keeps_zoomed_and_plain_apart(tmp_path):
    from lrcn.runtime.video import read_clip
    from lrcn.train.config import DataConfig
    from lrcn.train.data import Sample, cache_clip, clip_cache_path, load_cached

    video = write_avi(tmp_path / "v.avi", walking_square(n=20))
    zoomed = read_clip(video, 8, 32, zoom=G)
    plain = read_clip(video, 8, 32)
    assert zoomed.frames.shape == plain.frames.shape == (8, 32, 32, 3)
    assert zoomed.indices == plain.indices
    assert not np.array_equal(zoomed.frames, plain.frames)
    assert clip_cache_path(tmp_path, video, 8, 32, G, 8) != clip_cache_path(tmp_path, video, 8, 32)
    # S = 8 (7 diff steps): the cache holds what clip mode makes of the file
    cfg = DataConfig(root=str(tmp_path), img_size=32, num_frames=7, zoom="motion", cache_dir=str(tmp_path / "cache"))
    sample = Sample(str(video), 0, "g")
    np.testing.assert_array_equal(load_cached(cache_clip(sample, 8, cfg)), zoomed.frames)


def test_the_dense_training_cache_is_cut_with_the_box_clip_mode_finds(tmp_path):
    """Temporal jitter caches 2S - 1 frames; its even frames are clip mode's S. Here a blob flickers
    on the odd frames only, so the box of all 2S - 1 frames is larger than the S frames' box."""
    from lrcn.runtime.video import read_clip
    from lrcn.train.config import DataConfig
    from lrcn.train.data import Sample, cache_clip, load_cached

    frames = walking_square(n=15)
    frames[1::2, 5:25, 5:25] = 250  # on every odd frame, off on every even one
    video = write_avi(tmp_path / "v.avi", frames)
    dense_box = read_clip(video, 15, 32, zoom=G)
    every = read_clip(video, 15, 32, zoom=G, box_num=8)
    assert not np.array_equal(dense_box.frames[::2], every.frames[::2])  # the two boxes differ here
    cfg = DataConfig(root=str(tmp_path), img_size=32, num_frames=7, zoom="motion", cache_dir=str(tmp_path / "cache"))
    dense = load_cached(cache_clip(Sample(str(video), 0, "g"), 15, cfg))  # S = 8: 7 diff steps
    assert dense.shape[0] == 15
    np.testing.assert_array_equal(dense[::2], read_clip(video, 8, 32, zoom=G).frames)


def test_a_zoom_that_is_not_one_is_refused_by_the_configs_and_vc_train(tmp_path):
    from typer.testing import CliRunner

    from lrcn.runtime.preprocess import PreprocessSpec
    from lrcn.train.cli import app
    from lrcn.train.config import DataConfig

    with pytest.raises(ValueError, match="zoom must be one of none, motion"):
        DataConfig(zoom="people")
    with pytest.raises(ValueError, match="zoom must be one of"):
        PreprocessSpec(zoom="people")
    r = CliRunner().invoke(app, ["--data", str(tmp_path), "--zoom", "people", "--out", str(tmp_path / "r")])
    assert r.exit_code != 0 and "--zoom" in r.output and "people" in r.output, r.output
    # (the metadata's preprocess.zoom is checked with the other crafted fields: test_harden_model)


@pytest.mark.parametrize("geometry", [G, FIRST_GEOMETRY], ids=["today", "first"])
@pytest.mark.parametrize("modality", ["rgb", "diff"])
def test_a_zoomed_stream_predicts_what_clip_mode_says_of_its_window(tmp_path, modality, geometry):
    from lrcn.runtime import VideoClassifier

    clf = VideoClassifier(
        fake_model(tmp_path / "z", modality=modality, zoom="motion", zoom_geometry=geometry), device="cpu"
    )
    assert clf.meta.preprocess.zoom == "motion" and clf.meta.preprocess.zoom_geometry == geometry
    video = write_avi(tmp_path / "v.avi", walking_square(n=14))
    ready = [p for p in clf.stream(video, sample_fps=0, keep_window=True) if p.ready]
    assert len(ready) == 14 - clf.sampled_frames + 1
    for p in ready:
        assert p.window.shape[1] == 32 * geometry.decode  # the model's own decode size
        np.testing.assert_allclose(p.probs, clf.probs_from_frames(p.window), atol=1e-5)
    # the first window is the file's first S frames: clip mode on a file of exactly those agrees
    first = write_avi(tmp_path / "first.avi", walking_square(n=14)[: clf.sampled_frames])
    np.testing.assert_allclose(clf.predict(first).probs, ready[0].probs, atol=1e-5)


def test_a_zoomed_model_refuses_stateful_mode_and_motion_gating_in_one_line(tmp_path):
    from lrcn.core.errors import ModelError
    from lrcn.runtime import VideoClassifier
    from lrcn.runtime.motion import MotionConfig, gating_off

    clf = VideoClassifier(fake_model(tmp_path / "z", zoom="motion"), device="cpu")
    video = write_avi(tmp_path / "v.avi", walking_square(n=8))
    with pytest.raises(ModelError, match="stateful mode steps one frame at a time: use window mode"):
        list(clf.stream(video, sample_fps=0, stateful=True))
    assert "zooms" in gating_off(MotionConfig(), False, "rgb", "motion")


def test_the_search_tries_the_zoom_and_names_its_folders_by_it():
    from lrcn.train.config import DataConfig, TrainConfig
    from lrcn.train.search_space import SearchSpace, apply, base_point, key, space_for

    space = space_for(30, sided=False, tta=False)
    assert space.zooms == ("none", "motion")
    base = base_point(space, DataConfig(), TrainConfig())
    assert base["zoom"] == "none" and "zoom" not in key(base)  # old folders keep their names
    point = {**base, "zoom": "motion"}
    assert key(point).endswith("_zoom-motion")
    from lrcn.models.config import ModelConfig

    _, data, _ = apply(point, ModelConfig(), DataConfig(), TrainConfig(), sided=False)
    assert data.zoom == "motion"
    old = space.to_dict()
    del old["zooms"]  # a ranking saved before the zoom existed
    assert SearchSpace.from_dict(old).zooms == ("none",)


def clips_folder(root, box, n=4):
    """Two classes of `n` clips each, the square moving within `box` of a 120x180 frame."""
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(n):
            write_avi(root / c / f"v_{c}_g{i:02d}_c001.avi", walking_square(n=12, box=box, seed=i))
    return root


def test_auto_zoom_cuts_where_the_action_is_small_and_keeps_whole_frames_where_it_fills_them(tmp_path):
    from lrcn.train.data import discover
    from lrcn.train.recipe import survey, zoom_for

    small = clips_folder(tmp_path / "small", (120, 30, 160, 70))
    wide = clips_folder(tmp_path / "wide", (5, 5, 175, 115))

    def paths(root):
        from lrcn.train.config import DataConfig

        return [s.path for s in discover(DataConfig(root=str(root)))[1]]

    zoom, why = zoom_for(survey(paths(small)))
    assert zoom == "motion" and why.startswith("zoom motion: the median clip moves within 0.") and "8 clips" in why
    zoom, why = zoom_for(survey(paths(wide)))
    assert zoom == "none" and why.startswith("zoom none:") and "traffic and trees" in why  # why forcing may not help
    (tmp_path / "bad.avi").write_bytes(b"not a video")
    assert zoom_for(survey([str(tmp_path / "bad.avi")])) == ("none", "")  # nothing readable: no zoom, training says why


def test_auto_zoom_says_when_the_median_box_is_close_to_its_line():
    from lrcn.train.recipe import ZOOM_NEAR, ZOOM_SHARE, Survey, zoom_for

    def said(share):
        return zoom_for(Survey(shares=[share] * 3, frames=[60] * 3))

    for share in (ZOOM_SHARE, ZOOM_SHARE + ZOOM_NEAR / 2, ZOOM_SHARE - ZOOM_NEAR / 2):  # yard's region read 0.50
        zoom, why = said(share)
        assert zoom == ("motion" if share < ZOOM_SHARE else "none")
        assert "close" in why and "--budget compares both zooms" in why
    for share in (0.31, 1.0):  # far's and UT's medians: a clear choice, no hint
        assert "close" not in said(share)[1]


@pytest.mark.slow
def test_small_real_trains_a_zoomed_model_on_small_actions_and_exports_it(tmp_path):
    from typer.testing import CliRunner

    from lrcn.export import export_run
    from lrcn.runtime import VideoClassifier
    from lrcn.train.cli import app

    data = clips_folder(tmp_path / "small", (120, 30, 160, 70))
    run = tmp_path / "run"
    args = ["--data", data, "--frames", "4", "--img-size", "32", "--epochs", "1", "--latent-dim", "8"]
    args += ["--hidden-size", "8", "--device", "cpu", "--out", run, "--cache-dir", tmp_path / "cache"]
    r = CliRunner().invoke(app, [str(a) for a in args])
    assert r.exit_code == 0, r.output
    assert "zoom motion: the median clip moves within" in r.output
    result = export_run(run, tmp_path / "z.onnx")
    assert result.report.window["passed"]
    clf = VideoClassifier(tmp_path / "z.onnx", device="cpu")
    assert clf.meta.preprocess.zoom == "motion"
    # an lrcn from before the zoom, or before its geometry was recorded, refuses it rather than running it its way
    assert clf.meta.schema_version == 3 and clf.meta.preprocess.zoom_geometry == G
    video = sorted(data.rglob("*.avi"))[0]
    ready = [p for p in clf.stream(video, sample_fps=0, keep_window=True) if p.ready]
    assert ready and all(np.allclose(p.probs, clf.probs_from_frames(p.window), atol=1e-5) for p in ready)


def blink(n=40, h=120, w=180):
    """A square blinking in one place, then in another: the box stays, moves once, then stays
    (on every grid; a square that walks makes a fine grid's box follow it frame by frame)."""
    rng = np.random.default_rng(0)
    frames = []
    for t in range(n):
        f = np.full((h, w, 3), 110, np.float32) + rng.normal(0, 3, (h, w, 3))
        x, y = (130, 40) if t < n // 2 else (30, 60)
        if t % 2:
            f[y : y + 14, x : x + 14] = [30, 200, 60]
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return np.stack(frames)


@pytest.mark.parametrize("geometry", [G, FIRST_GEOMETRY], ids=["today", "first"])
@pytest.mark.parametrize("repeats", [False, True])
@pytest.mark.parametrize("modality", ["rgb", "diff", "rgb+flow"])
def test_a_stream_keeps_its_features_while_the_box_stays_and_equals_the_whole_window_cut(modality, repeats, geometry):
    from lrcn.runtime.preprocess import FrameInput, PreprocessSpec, prepare_clip

    spec = PreprocessSpec(img_size=32, modality=modality, zoom="motion", zoom_geometry=geometry)
    t = 6
    step = FrameInput(spec, num_frames=t)
    side = work_size(32, geometry)
    frames = [cv2.resize(f, (side, side)) for f in blink()]
    if repeats:  # a stalled camera: every 5th frame twice (clip mode then re-pairs the diff steps)
        frames = [g for i, f in enumerate(frames) for g in ([f, f] if i % 5 == 0 else [f])]
    s = t + spec.extra_frames
    kinds = []
    for i, f in enumerate(frames):
        x = step(f)
        if i < s - 1:
            assert x is None
            continue
        whole = prepare_clip(zoom_clip(np.stack(frames[i - s + 1 : i + 1]), 32, geometry), spec)
        if x.ndim == 4:
            np.testing.assert_array_equal(x, whole)
        else:
            np.testing.assert_allclose(x, whole[-1], atol=1e-6)
        kinds.append(x.ndim)
    if repeats and spec.extra_frames:  # every window holds a repeat: always cut whole, as clip mode pairs it
        assert set(kinds) == {4}
        return
    assert kinds[0] == 4 and 3 in kinds  # both paths taken (how often on real footage: benchmarks/zoom_stream_cost.py)
