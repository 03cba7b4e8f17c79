"""The aligned difference (adiff): the camera's shift estimated and taken out, people's motion kept."""

import numpy as np
import pytest
from test_flow import shifted, textured

from lrcn.runtime.align import MAX_SHIFT, aligned_diff, pair_shift
from lrcn.runtime.preprocess import PreprocessSpec, apply_modality, normalize


def scene(dx: int, dy: int, person_x: int) -> np.ndarray:
    """A 64 px grey view of a textured background panned by (dx, dy), with a bright 16 x 24
    block (a person) at column `person_x`, which moves on its own."""
    view = shifted(textured(), dx, dy).copy()
    view[20:44, person_x : person_x + 16] = 230
    return view


def rgb_norm(grey: np.ndarray) -> np.ndarray:
    spec = PreprocessSpec(img_size=64, modality="adiff")
    return normalize(np.repeat(grey[None, :, :, None], 3, axis=3), spec)[0]


@pytest.mark.parametrize("dx,dy", [(3, 0), (-2, 1), (0, -3)])
def test_the_shift_follows_the_background_not_the_person(dx, dy):
    before, after = scene(0, 0, 10), scene(dx, dy, 18)  # the person moves 8 px right, the camera (dx, dy)
    sx, sy = pair_shift(before, after)
    assert abs(sx - dx) < 0.3 and abs(sy - dy) < 0.3


def test_the_aligned_difference_keeps_the_person_and_drops_the_pan():
    before, after = scene(0, 0, 10), scene(3, 0, 30)
    a, b = rgb_norm(before), rgb_norm(after)
    plain = np.abs(b - a).mean(axis=0)
    aligned = np.abs(aligned_diff(a, b, pair_shift(before, after))).mean(axis=0)
    person = np.zeros((64, 64), bool)
    person[20:44, 10:46] = True  # where the block was and is
    background = ~person
    background[:, :4] = background[:, -4:] = False  # the strip entering the view
    assert aligned[background].mean() < 0.25 * plain[background].mean()
    assert aligned[person].mean() > 0.8 * plain[person].mean()


def test_a_still_pair_is_the_plain_difference():
    a, b = scene(0, 0, 10), scene(0, 0, 14)
    xa, xb = rgb_norm(a), rgb_norm(b)
    assert pair_shift(a, a) == (0.0, 0.0)
    np.testing.assert_array_equal(aligned_diff(xa, xa, pair_shift(a, a)), np.zeros_like(xa))
    np.testing.assert_array_equal(aligned_diff(xa, xb, (0.0, 0.0)), xb - xa)


def test_the_shift_is_bounded_and_the_entering_strip_is_zero():
    a, b = shifted(textured(), 0, 0), shifted(textured(seed=1), 0, 0)  # unrelated views: any shift, bounded
    assert max(abs(v) for v in pair_shift(a, b)) <= 64 * MAX_SHIFT
    x = np.full((3, 64, 64), 0.2, np.float32)
    d = aligned_diff(x, x + 1.0, (4.0, 0.0))  # the earlier frame moves 4 px right: columns 0-3 are new
    assert np.abs(d[:, :, :4]).max() == 0.0
    np.testing.assert_allclose(d[:, :, 5:], 1.0, atol=1e-5)


def test_the_clip_rule_aligns_each_pair_and_needs_the_frames():
    views = np.stack([np.repeat(scene(2 * t, 0, 10 + 4 * t)[:, :, None], 3, axis=2) for t in range(4)])
    spec = PreprocessSpec(img_size=64, modality="adiff")
    x = normalize(views, spec)
    out = apply_modality(x, "adiff", views)
    assert out.shape == (3, 3, 64, 64)
    for t in range(3):
        np.testing.assert_array_equal(
            out[t], aligned_diff(x[t], x[t + 1], pair_shift(views[t, ..., 0], views[t + 1, ..., 0]))
        )
    with pytest.raises(ValueError, match="uint8 RGB"):
        apply_modality(x, "adiff")


def test_a_spec_too_small_for_dis_is_refused_in_one_line():
    for modality in ("flow", "adiff", "rgb+adiff"):
        with pytest.raises(ValueError, match="needs img_size >= 12"):
            PreprocessSpec(img_size=8, modality=modality)
    assert PreprocessSpec(img_size=8, modality="diff").img_size == 8
