"""benchmarks/zoom_boxes.py: a small action keeps small boxes; a vehicle crossing the view widens them."""

import importlib.util

import numpy as np
from conftest import REPO
from helpers import write_avi

spec = importlib.util.spec_from_file_location("zoom_boxes", REPO / "benchmarks" / "zoom_boxes.py")
zb = importlib.util.module_from_spec(spec)
spec.loader.exec_module(zb)


def _clips(root, crossing: bool) -> list[str]:
    """Two clips of a block waving in a corner of a still 160 x 120 view; `crossing` adds a bar
    that travels the whole width below it."""
    paths = []
    (root / "a").mkdir(parents=True)
    for c in range(2):
        frames = []
        for t in range(20):
            f = np.full((120, 160, 3), 100, np.uint8)
            x = 20 + c * 5 + (t % 4) * 3
            f[20:40, x : x + 10] = 230
            if crossing:
                f[90:105, t * 8 : t * 8 + 20] = 10
            frames.append(f)
        paths.append(str(write_avi(root / "a" / f"v_a_g0{c}_c00{c}.avi", frames, size=(160, 120))))
    return paths


def test_boxes_stay_small_until_something_else_moves(tmp_path, capsys):
    quiet, busy = _clips(tmp_path / "quiet", False), _clips(tmp_path / "busy", True)
    assert max(zb.cut_shares(quiet)) < 0.5 and min(zb.cut_shares(busy)) >= 0.5
    zb.main([str(tmp_path / "quiet"), str(tmp_path / "busy")])
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and out[0].count("0 of 2 at 0.5 or more") == 2 and out[1].count("2 of 2 at 0.5") == 2, out


def test_a_region_leaves_the_crossing_out(tmp_path, capsys):
    """The bar crosses rows 90-105; the upper half of the view holds only the waving block."""
    busy = _clips(tmp_path / "busy", True)
    upper = (0.0, 0.0, 1.0, 0.5)
    assert max(zb.cut_shares(busy, region=upper)) < 1.0 <= min(zb.cut_shares(busy))
    zb.main([str(tmp_path / "busy"), "--region", "0,0,1,0.5"])
    out = capsys.readouterr().out
    assert "auto median" in out and "median 1.00" not in out, out  # without the region both are 1.00
