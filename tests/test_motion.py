"""Motion gating's per-frame test: still views are gated, motion and slow drifts are not."""

import numpy as np
import pytest

from lrcn.runtime.motion import MotionConfig, MotionGate, gateable, thumbnail


def scene(x: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """A 120x160 grey room with a bright 20x20 square at column x, plus optional sensor noise."""
    img = np.full((120, 160, 3), 60, np.float32)
    img[50:70, x : x + 20] = 220
    if noise:
        img += np.random.default_rng(seed).normal(0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def test_a_still_noisy_view_is_gated_and_a_moving_square_is_not():
    gate = MotionGate()
    assert gate.changed(scene(10, noise=4, seed=0))  # the first frame always runs
    still = [gate.changed(scene(10, noise=4, seed=i)) for i in range(1, 30)]
    assert not any(still) and gate.gated == 29
    moving = [gate.changed(scene(10 + 4 * i, noise=4, seed=100 + i)) for i in range(1, 20)]
    assert all(moving)


def test_a_slow_drift_is_seen_against_the_last_frame_the_cnn_saw():
    """Each step changes too little, but the reference stays put, so the drift adds up."""
    gate = MotionGate(MotionConfig(min_area=0.02))
    gate.changed(scene(10))
    runs = [gate.changed(scene(10 + i)) for i in range(1, 40)]
    assert 0 < sum(runs) < len(runs)


def test_max_gap_runs_the_cnn_now_and_then():
    gate = MotionGate(MotionConfig(max_gap=5))
    runs = [gate.changed(scene(10)) for _ in range(13)]
    assert runs == [True, False, False, False, False, False, True, False, False, False, False, False, True]


def test_reset_and_a_new_frame_size_run_the_cnn():
    gate = MotionGate()
    gate.changed(scene(10))
    assert not gate.changed(scene(10))
    gate.reset()
    assert gate.changed(scene(10))
    assert gate.changed(np.zeros((240, 320, 3), np.uint8))  # another size: no reference to compare


def test_thumbnail_keeps_the_aspect_and_takes_grey_and_bgra():
    assert thumbnail(np.zeros((720, 1280, 3), np.uint8), 32).shape == (18, 32)
    assert thumbnail(np.zeros((100, 50), np.uint8), 32).shape == (32, 16)
    assert thumbnail(np.zeros((64, 64, 4), np.uint8), 16).shape == (16, 16)


def test_only_rgb_and_diff_have_features_to_reuse():
    assert gateable("rgb") and gateable("diff") and not gateable("rgb+diff")


@pytest.mark.parametrize("bad", [dict(pixel_delta=0), dict(min_area=1.0), dict(size=2), dict(max_gap=0)])
def test_config_is_checked(bad):
    with pytest.raises(ValueError):
        MotionConfig(**bad)
