"""How large each folder's motion boxes are: what `--zoom auto` reads, and what a zoomed model cuts.

    python benchmarks/zoom_boxes.py ../shared/data/ut-interaction artifacts/data/far artifacts/data/far-busy

For a dataset folder (root/<class>/<video>), two figures per clip, as a share of the frame's side
(1.00: the whole frame):
- `auto`: `lrcn.train.recipe.survey` itself (the code vc-train's `--zoom auto` runs: up to 60 clips,
  the first geometry's box on T + 1 sampled frames); auto zooms when the median clip's is under
  `recipe.ZOOM_SHARE`;
- `cut`: the box a model trained with `--zoom motion` cuts each of those clips to (today's
  geometry, decoded at its size for a 64 px model, clip mode's T + 1 frames).
Each is printed as the median clip's, the quartiles and the count at ZOOM_SHARE or more.
`--region x0,y0,x1,y1` reads both inside that part of the view, as `vc-train --region` does
(shares of the region's side).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lrcn.core.errors import VideoError  # noqa: E402
from lrcn.runtime.rect import WHOLE, Rect, parse_rect  # noqa: E402
from lrcn.runtime.roi import ZoomGeometry, box_share  # noqa: E402
from lrcn.runtime.video import VIDEO_EXTENSIONS, decode_video, sample_indices  # noqa: E402
from lrcn.train import recipe  # noqa: E402


def cut_shares(clips: list[str], img_size: int = 64, region: Rect = WHOLE) -> list[float]:
    """The side of the box today's geometry cuts each clip to, as a share of the frame's (the region's)."""
    geometry, shares = ZoomGeometry(), []
    for path in clips:
        try:
            video = decode_video(path, img_size, zoom=geometry, region=region)
        except VideoError:
            continue
        shares.append(box_share(video.frames[sample_indices(len(video.frames), recipe.FRAMES + 1)], geometry))
    return shares


def line(name: str, shares: list[float]) -> str:
    q1, q3 = np.percentile(shares, [25, 75])
    at = sum(s >= recipe.ZOOM_SHARE for s in shares)
    return (
        f"{name} median {recipe.median_clip(shares):.2f} (quartiles {q1:.2f}-{q3:.2f}), "
        f"{at} of {len(shares)} at {recipe.ZOOM_SHARE:g} or more"
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--region", type=parse_rect, default=WHOLE, help="x0,y0,x1,y1: read inside this part of the view")
    args = ap.parse_args(argv)
    region = args.region
    for folder in args.folders:
        videos = sorted(p for p in folder.glob("*/*") if p.suffix.lower() in VIDEO_EXTENSIONS)
        clips = [str(p) for p in videos]
        survey = recipe.survey(clips, region=region).shares
        if not survey:
            print(f"{folder}: no readable clips")
            continue
        cut = cut_shares(recipe.surveyed(clips), region=region)
        print(f"{folder}: {line('auto', survey)}; {line('cut', cut)}", flush=True)


if __name__ == "__main__":
    main()
