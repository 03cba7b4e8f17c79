"""How much the camera moves in each folder or file: the statistic `--input auto` reads.

    python benchmarks/camera_motion.py ../shared/data/ut-interaction artifacts/data/pan ../shared/data/videos/*

For a dataset folder (root/<class>/<video>), `lrcn.train.recipe.survey` itself (the code vc-train's
`--input auto` runs: up to 60 clips, T + 1 sampled frames each at the analysis width) and its
per-clip camera motion: the median, the least and the most. For a video file, the same figure for
that one clip. The figure is the median over a clip's sampled steps of the global shift's length
(`lrcn.runtime.align.pair_shift`), as a share of the frame's side; auto picks adiff at
`recipe.PAN_SHARE` or more.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lrcn.runtime.video import VIDEO_EXTENSIONS  # noqa: E402
from lrcn.train import recipe  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", type=Path)
    args = ap.parse_args()
    print(f"auto picks adiff at {recipe.PAN_SHARE:g} or more (the median clip)")
    for path in args.paths:
        if path.is_dir():
            clips = sorted(str(p) for p in path.glob("*/*") if p.suffix.lower() in VIDEO_EXTENSIONS)
            pans = recipe.survey(clips).pans
            if not pans:
                print(f"{path}: no readable clips")
                continue
            med = recipe.median_clip(pans)
            print(f"{path}: median {med:.4f}, least {min(pans):.4f}, most {max(pans):.4f} ({len(pans)} clips)")
        else:
            pans = recipe.survey([str(path)]).pans
            print(f"{path}: {pans[0]:.4f}" if pans else f"{path}: not readable")


if __name__ == "__main__":
    main()
