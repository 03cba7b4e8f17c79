import numpy as np
import pytest

from lrcn.runtime.preprocess import PreprocessSpec, apply_modality, normalize, prepare_clip, preprocess_bgr, resize_rgb
from lrcn.runtime.video import clip_windows, sample_indices


def test_resize_rgb_swaps_channels_and_resizes():
    bgr = np.zeros((20, 30, 3), np.uint8)
    bgr[..., 0] = 255  # pure blue in BGR
    out = resize_rgb(bgr, 16)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    assert (out[..., 2] == 255).all() and (out[..., 0] == 0).all()


@pytest.mark.parametrize("shape", [(10, 12), (10, 12, 1), (10, 12, 4)])
def test_resize_rgb_accepts_gray_and_bgra(shape):
    assert resize_rgb(np.full(shape, 7, np.uint8), 8).shape == (8, 8, 3)


def test_resize_rgb_keeps_top_byte_of_16_bit_frames():
    frame = np.full((4, 4, 3), 0xAB00, np.uint16)
    assert (resize_rgb(frame, 4) == 0xAB).all()


def test_normalize_scale_and_layout():
    spec = PreprocessSpec(img_size=8, mean=(0.5, 0.5, 0.5), std=(0.25, 0.5, 1.0))
    frames = np.full((2, 4, 4, 3), 255, np.uint8)
    x = normalize(frames, spec)
    assert x.shape == (2, 3, 4, 4) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 0, 0], [2.0, 1.0, 0.5])


def test_modalities_shapes_and_values():
    x = np.random.default_rng(0).normal(size=(5, 3, 4, 4)).astype(np.float32)
    assert apply_modality(x, "rgb").shape == (5, 3, 4, 4)
    d = apply_modality(x, "diff")
    assert d.shape == (4, 3, 4, 4)
    np.testing.assert_allclose(d[2], x[3] - x[2])
    rd = apply_modality(x, "rgb+diff")
    assert rd.shape == (4, 6, 4, 4)
    np.testing.assert_allclose(rd[1, :3], x[2])
    np.testing.assert_allclose(rd[1, 3:], x[2] - x[1])
    with pytest.raises(ValueError):
        apply_modality(x[:1], "diff")


def test_spec_validation_and_roundtrip():
    with pytest.raises(ValueError):
        PreprocessSpec(modality="depth")
    with pytest.raises(ValueError):
        PreprocessSpec(img_size=0)
    spec = PreprocessSpec(img_size=32, modality="rgb+diff")
    assert PreprocessSpec.from_dict({**spec.to_dict(), "unrelated": 1}) == spec
    assert spec.channels == 6 and spec.extra_frames == 1


def test_one_path_from_bgr_equals_cached_path():
    rng = np.random.default_rng(1)
    raw = [rng.integers(0, 256, (24, 40, 3), dtype=np.uint8) for _ in range(3)]
    spec = PreprocessSpec(img_size=16, modality="diff")
    cached = np.stack([resize_rgb(f, 16) for f in raw])
    np.testing.assert_array_equal(preprocess_bgr(raw, spec), prepare_clip(cached, spec))


def test_sample_indices_even_spread_and_padding():
    assert sample_indices(30, 4) == [0, 10, 19, 29]
    assert sample_indices(30, 1) == [0]
    short = sample_indices(3, 7)  # shorter than num: repeated in order, evenly
    assert short == sorted(short) and set(short) == {0, 1, 2} and len(short) == 7
    with pytest.raises(ValueError):
        sample_indices(0, 3)


def test_clip_windows_cover_the_video():
    wins = clip_windows(100, 5, 4)
    assert len(wins) == 4 and all(len(w) == 5 for w in wins)
    assert wins[0][0] == 0 and wins[-1][-1] == 99
    assert all(a[-1] < b[0] for a, b in zip(wins, wins[1:]))
    assert clip_windows(100, 5, 1) == [sample_indices(100, 5)]


def test_diff_of_a_padded_short_clip_has_no_zero_steps():
    """A 7-frame clip sampled at T = 15 (16 frames for diff) repeats frames; every diff step must still move."""
    from lrcn.runtime.preprocess import PreprocessSpec, prepare_clip
    from lrcn.runtime.video import sample_indices

    rng = np.random.default_rng(1)
    video = rng.integers(0, 256, size=(7, 8, 8, 3), dtype=np.uint8)
    frames = video[sample_indices(7, 16)]
    assert any(np.array_equal(frames[i], frames[i + 1]) for i in range(15))  # the padding repeats frames
    d = prepare_clip(frames, PreprocessSpec(img_size=8, modality="diff"))
    assert d.shape == (15, 3, 8, 8)
    assert all(np.abs(d[t]).max() > 0 for t in range(15))
    x = prepare_clip(video, PreprocessSpec(img_size=8, modality="rgb"))
    real = [x[t + 1] - x[t] for t in range(6)]
    seen = [next(i for i, r in enumerate(real) if np.array_equal(d[t], r)) for t in range(15)]
    assert seen == sorted(seen) and set(seen) == set(range(6))  # each real difference, in order, none lost
    # a clip without repeats is unchanged, and an all-still clip stays all zero
    y = rng.normal(size=(5, 3, 4, 4)).astype(np.float32)
    np.testing.assert_array_equal(apply_modality(y, "diff"), y[1:] - y[:-1])
    still = np.repeat(y[:1], 5, axis=0)
    assert not apply_modality(still, "diff").any()
