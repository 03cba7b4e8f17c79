"""benchmarks/derive_sets.py: far's parts one at a time keep far's sizes and places; pan moves the view."""

import importlib.util

import numpy as np
from conftest import REPO

spec = importlib.util.spec_from_file_location("derive_sets", REPO / "benchmarks" / "derive_sets.py")
ds = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ds)

W, H, N = 160, 120, 6


def _source(root):
    """One class, two clips of a bright square moving over a shaded background."""
    ramp = np.linspace(30, 120, W, dtype=np.float32)  # smooth: JPEG keeps it near what it was
    background = np.repeat(np.repeat(ramp[None, :, None], H, 0), 3, 2).astype(np.uint8)
    for c in range(2):
        frames = []
        for t in range(N):
            f = background.copy()
            f[40:80, 20 + 10 * t + c : 60 + 10 * t + c] = 250
            frames.append(f)
        ds.write_video(root / "walk" / f"v_walk_g0{c + 1}_c00{c}.avi", frames, 10.0)


def test_far_parts_share_far_draws(tmp_path):
    src = tmp_path / "src"
    _source(src)
    for kind in ds.KINDS:
        assert ds.derive(src, tmp_path / kind, kind, seed=3, short_frames=4) == 2
        assert (tmp_path / kind / ".done").is_file()
    for i, name in enumerate(("v_walk_g01_c000", "v_walk_g02_c001")):
        read = {k: ds.read_frames(tmp_path / k / "walk" / f"{name}.avi")[0] for k in ds.KINDS}
        rng = np.random.default_rng([3, i])  # derive's draw for clip i: its share of the height, then its place
        scale = rng.uniform(1 / 6, 1 / 4) / ds.PERSON_HEIGHT
        sw, sh = max(2, round(W * scale)), max(2, round(H * scale))
        x, y = int(rng.integers(0, W - sw + 1)), int(rng.integers(0, H - sh + 1))
        ch, cw = read["far-cut"][0].shape[:2]
        assert 0 <= sh - ch <= 1 and 0 <= sw - cw <= 1  # (MJPG keeps even sides)
        assert read["noisy"][0].shape == read["far"][0].shape == read["far-clean"][0].shape == (H, W, 3)
        assert len(read["short"]) == len(read["short-pan"]) == 4 and all(
            len(read[k]) == N for k in ("far", "far-clean", "noisy", "far-cut", "pan")
        )
        for t in range(N):
            cut = read["far-clean"][t][y : y + ch, x : x + cw].astype(float)
            assert np.abs(cut - read["far-cut"][t]).mean() < 12  # the same shrunk clip at the same place
            outside = read["far-clean"][t].astype(float).copy()
            outside[y : y + sh, x : x + sw] = np.nan
            assert np.nanstd(outside.reshape(-1, 3), axis=0).max() < 4  # a flat canvas around it
        apart = np.abs(read["far"][0].astype(float) - read["far-clean"][0]).mean()
        assert 0.5 < apart < 15  # far is far-clean with noise and JPEG: near it, not equal
        source = ds.read_frames(src / "walk" / f"{name}.avi")[0][0].astype(float)
        assert 0.5 < np.abs(read["noisy"][0] - source).mean() < 15  # noisy: the source, unshrunk, degraded


def test_pan_travels_the_frame():
    """On a still scene whose brightness rises left to right, the panned view's mean brightness moves
    one way through the clip, by about the quarter of the ramp the view travels."""
    ramp = np.linspace(30, 120, W, dtype=np.float32)
    still = np.repeat(np.repeat(ramp[None, :, None], H, 0), 3, 2).astype(np.uint8)
    shifts = []
    for seed in range(6):
        out = ds.pan([still] * 20, np.random.default_rng(seed))
        assert len(out) == 20 and all(f.shape == still.shape for f in out)
        means = np.array([f.mean() for f in out])
        assert abs(np.corrcoef(np.arange(20), means)[0, 1]) > 0.9  # one way, shake aside
        shifts.append(means[-1] - means[0])
        assert 15 < abs(shifts[-1]) < 30  # (1 - PAN_VIEW) of the 90-level ramp, about 22
    assert min(shifts) < 0 < max(shifts)  # both directions occur


def test_far_busy_is_far_with_a_street_beside_the_people():
    """far-busy keeps far's people, place and noise; outside them a vehicle crosses and a bush sways,
    so more of the canvas moves than in far."""
    still = np.full((H, W, 3), 90, np.uint8)
    frames = [still.copy() for _ in range(12)]
    for t, f in enumerate(frames):
        f[10 + t : 30 + t, 40:60] = 220  # the "people": a block that moves

    def moved(clip):  # (H, W): pixels that change in some frame
        return np.abs(np.diff(np.stack(clip).astype(int), axis=0)).max(axis=(0, 3)) > 0

    for seed in range(4):
        plain = ds.far(frames, np.random.default_rng([seed, 0]), degrade=False)
        busy = ds.far(
            frames, np.random.default_rng([seed, 0]), degrade=False, street=np.random.default_rng([seed, 0, 1])
        )
        sw, sh, x, y = ds.placement(H, W, np.random.default_rng([seed, 0]))
        people = np.s_[:, y : y + sh, x : x + sw]
        assert np.array_equal(np.stack(busy)[people], np.stack(plain)[people])  # the action is never covered
        outside = np.ones((H, W), bool)
        outside[y : y + sh, x : x + sw] = False
        assert not moved(plain)[outside].any()  # far: still around the people
        assert moved(busy)[outside].mean() > 0.03  # far-busy: the vehicle's band and the bush move
        street = ds.Street(H, W, (x, y, sw, sh), len(frames), np.random.default_rng([seed, 0, 1]))
        band = slice(street.car_y, street.car_y + street.car.shape[0])
        assert moved(busy)[band].any(axis=0).mean() > 0.3  # the vehicle travels across the width


def test_yard_is_one_camera_the_people_below_its_top_and_the_street_above_in_every_clip():
    """yard: far-busy's street in one place for every clip, above YARD_TOP; the people below it."""
    still = np.full((H, W, 3), 90, np.uint8)
    frames = [still.copy() for _ in range(12)]
    for t, f in enumerate(frames):
        f[10 + t : 30 + t, 40:60] = 220
    top = round(H * ds.YARD_TOP)
    moving_above = []
    for seed in range(6):
        clip = np.stack(
            ds.far(
                frames,
                np.random.default_rng([seed, 0]),
                degrade=False,
                street=np.random.default_rng([seed, 0, 1]),
                yard=True,
            )
        )
        sw, sh, x, y = ds.placement(H, W, np.random.default_rng([seed, 0]), ds.YARD_TOP)
        assert y >= top  # the people are in the yard
        moved = np.abs(np.diff(clip.astype(int), axis=0)).max(axis=(0, 3)) > 0
        outside = np.ones((H, W), bool)
        outside[y : y + sh, x : x + sw] = False
        assert not moved[top:][outside[top:]].any()  # below the top only the people move
        moving_above.append(moved[:top].any(axis=1))
    assert all(m.any() for m in moving_above)  # the vehicle and the bush move above it
    street = [ds.Street(H, W, (0, top, 4, 4), 12, np.random.default_rng([s, 0, 1]), yard=True) for s in range(6)]
    assert len({(s.car_y, s.bush) for s in street}) == 1  # one camera: the road and the bush stay put
