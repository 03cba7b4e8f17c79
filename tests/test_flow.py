"""Optical flow input: the flow function, its place in the modality rule, metadata and the runtime."""

import cv2
import numpy as np
import pytest
from helpers import fake_model

from lrcn.runtime.flow import FLOW_RANGE, frame_flow, grey
from lrcn.runtime.preprocess import PreprocessSpec, apply_modality, normalize, prepare_clip, step_pairs


def textured(size: int = 96, seed: int = 0) -> np.ndarray:
    """A smooth random texture (grey uint8), something flow can follow."""
    noise = np.random.default_rng(seed).integers(0, 256, (size, size), dtype=np.uint8)
    return cv2.GaussianBlur(noise, (0, 0), 2.0)


def shifted(img: np.ndarray, dx: int, dy: int, side: int = 64) -> np.ndarray:
    """The centre `side` crop of img, its content moved by (dx, dy) pixels."""
    o = (img.shape[0] - side) // 2
    return np.ascontiguousarray(img[o - dy : o - dy + side, o - dx : o - dx + side])


@pytest.mark.parametrize("dx,dy", [(3, 0), (-2, 0), (0, 3), (2, -2)])
def test_a_shifted_image_gives_flow_of_the_right_sign_and_size(dx, dy):
    img = textured()
    flow = frame_flow(shifted(img, 0, 0), shifted(img, dx, dy))
    assert flow.shape == (2, 64, 64) and flow.dtype == np.float32
    k = 64 * FLOW_RANGE
    inner = flow[:, 12:-12, 12:-12]  # borders have no match
    np.testing.assert_allclose(np.median(inner[0]) * k, dx, atol=0.3)
    np.testing.assert_allclose(np.median(inner[1]) * k, dy, atol=0.3)


def test_still_frames_give_zero_flow_and_values_stay_in_range():
    a = shifted(textured(), 0, 0)
    assert np.abs(frame_flow(a, a)).max() < 1e-3
    far = frame_flow(a, shifted(textured(seed=1), 0, 0))  # unrelated frames: anything, but clipped
    assert np.abs(far).max() <= 1.0


def test_flow_does_not_depend_on_opencv_threads():
    a, b = shifted(textured(), 0, 0), shifted(textured(), 2, 1)
    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(1)
        one = frame_flow(a, b)
        cv2.setNumThreads(4)
        four = frame_flow(a, b)
    finally:
        cv2.setNumThreads(before)
    np.testing.assert_array_equal(one, four)
    np.testing.assert_array_equal(one, frame_flow(a, b))


def test_frames_of_two_sizes_are_refused():
    with pytest.raises(ValueError, match="one size"):
        frame_flow(np.zeros((8, 8), np.uint8), np.zeros((8, 9), np.uint8))


def moving_clip(n: int, side: int = 32) -> np.ndarray:
    """n RGB frames (n, side, side, 3) of a texture moving 1 px right a frame."""
    img = textured(side + 2 * n + 8)
    return np.stack([np.repeat(shifted(img, i, 0, side)[..., None], 3, axis=2) for i in range(n)])


def test_clip_modalities_stack_rgb_and_flow():
    rgb = moving_clip(5)
    spec = PreprocessSpec(img_size=32, modality="rgb+flow")
    x = prepare_clip(rgb, spec)
    assert x.shape == (4, 5, 32, 32) and spec.channels == 5 and spec.extra_frames == 1
    np.testing.assert_array_equal(x[:, :3], normalize(rgb, spec)[1:])
    np.testing.assert_array_equal(x[2, 3:], frame_flow(grey(rgb[2]), grey(rgb[3])))
    assert np.median(x[:, 3]) > 0  # moving right
    flow_only = prepare_clip(rgb, PreprocessSpec(img_size=32, modality="flow"))
    np.testing.assert_array_equal(flow_only, x[:, 3:])
    with pytest.raises(ValueError, match="uint8 RGB"):
        apply_modality(normalize(rgb, spec), "flow")


def test_a_padded_clip_gets_flow_between_its_distinct_frames():
    real = moving_clip(3)
    padded = real[[0, 0, 1, 1, 2]]  # 3 frames sampled as 5
    assert step_pairs(padded).tolist() == [[0, 2], [0, 2], [2, 4], [2, 4]]
    x = prepare_clip(padded, PreprocessSpec(img_size=32, modality="flow"))
    assert all(np.abs(step).max() > 0 for step in x)  # no all-zero step
    np.testing.assert_array_equal(x[0], frame_flow(grey(real[0]), grey(real[1])))


@pytest.mark.parametrize("modality", ["flow", "rgb+flow"])
def test_flow_metadata_round_trips(tmp_path, modality):
    """(An unknown modality is refused in one line: tests/test_harden_model.py, "modality unknown".)"""
    from lrcn.runtime import VideoClassifier

    clf = VideoClassifier(fake_model(tmp_path / "flow", modality=modality), device="cpu")
    assert clf.meta.preprocess == PreprocessSpec(img_size=32, modality=modality)
    assert clf.meta.preprocess.channels == {"flow": 2, "rgb+flow": 5}[modality]


def test_a_stream_computes_one_flow_per_new_frame(tmp_path, tiny_data, monkeypatch):
    import lrcn.runtime.preprocess as P
    from lrcn.runtime import VideoClassifier

    calls = []
    real = P.frame_flow
    monkeypatch.setattr(P, "frame_flow", lambda a, b: calls.append(1) or real(a, b))
    clf = VideoClassifier(fake_model(tmp_path / "flow", modality="flow"), device="cpu")
    preds = list(clf.stream(sorted(tiny_data.rglob("*.avi"))[0], sample_fps=0))
    assert len(preds) == 12 and len(calls) == 11  # the first frame only primes; the window is never redone
