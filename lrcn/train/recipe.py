"""Recipes: named sets of training defaults, and `auto`, which picks one by the data's size.

The built-in defaults were chosen on the 2,000-clip synthetic set; on a hundred or so real clips
they overfit. `small-real` was chosen by 5-fold group cross-validation on UT-Interaction (README,
"Small real datasets"). An option given on the command line always wins over the recipe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from lrcn.runtime.rect import WHOLE, Rect

SMALL_CLIPS = 1000
"""auto: folders with fewer clips than this get small-real."""

DEFAULTS: dict[str, object] = {
    "frames": "15",
    "img_size": "128",
    "input": "diff",
    "lr": "1e-3",
    "dropout": "0.3",
    "batch_size": "8",
    "epochs": 15,
    "weight_decay": 1e-4,
    "label_smoothing": 0.0,
    "schedule": "plateau",
    "warmup": 0,
    "select": "loss",
    "ema": 0.0,
    "mixup": 0.0,
    "step_loss": 0.0,
    "val_frac": 0.15,
    "augment": None,
    "zoom": "none",
    "members": 1,
    "pool": "last",
}
RECIPES: dict[str, dict[str, object]] = {
    "default": {},
    # Each setting measured by group k-fold on UT-Interaction (README, "Small real datasets").
    # flip is dropped where a class name has a side in it (without_flip): a mirrored move_left is a move_right.
    "small-real": {
        # 64 on short clips too: 112 there was 0.02 higher on two sets cut from UT and 0.055 lower on
        # synthetic ones whose class is the motion, for 2.4x the running cost (README "112 px on 7-frame clips")
        "img_size": "64",
        # 60 rather than 40: higher on UT, far and short alike (README "Sixty epochs")
        "epochs": 60,
        "augment": "crop,temporal,flip",
        "weight_decay": 0.05,
        "label_smoothing": 0.1,
        "schedule": "cosine",
        "warmup": 1,
        # a 12-clip validation split picks a worse epoch than the last one, and its clips train better
        "select": "last",
        "val_frac": 0.0,
        # read from the clips (survey): T fits short clips, which also see appearance; the zoom only
        # where the action is small in the frame
        "frames": "auto",
        "input": "auto",
        "zoom": "auto",
        # the mean of three LRCNs: one model's 5-fold accuracy moves by up to 0.09 with its seed alone
        "members": 3,
        # the classifier trained at every LSTM step too (the LRCN paper's own training): higher on UT on
        # every seed, equal on far and short, a stateful stream right from fewer frames (README "Training every step")
        "step_loss": 0.5,
    },
}
CHOICES = ("auto", *RECIPES)


def class_counts(root: str | Path, classes: list[str] | None = None, num_classes: int | None = None) -> dict[str, int]:
    """{class: videos} of the used class folders root/<class>/ (a listing, nothing decoded); {} when missing."""
    from lrcn.runtime.video import VIDEO_EXTENSIONS

    root = Path(root)
    if not root.is_dir():
        return {}

    def videos(d: Path) -> int:
        return sum(1 for f in d.iterdir() if f.suffix.lower() in VIDEO_EXTENSIONS and not f.name.startswith("."))

    counts = {d.name: videos(d) for d in sorted(root.iterdir()) if d.is_dir()}
    used = [c for c in counts if counts[c]]
    used = [c for c in used if c in classes] if classes else used[:num_classes] if num_classes else used
    return {c: counts[c] for c in used}


def count_clips(root: str | Path, classes: list[str] | None = None, num_classes: int | None = None) -> int:
    return sum(class_counts(root, classes, num_classes).values())


SIDE_WORDS = frozenset({"left", "right", "leftward", "rightward", "clockwise", "anticlockwise", "counterclockwise"})
"""Words of a class name that say mirroring changes the class (a mirrored move_left is a move_right)."""


def sided(class_names: list[str]) -> list[str]:
    """The class names with a left/right word in them (move_left, SwipeRight, turn-clockwise)."""

    def words(name: str) -> set[str]:
        return {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", name)}

    return [n for n in class_names if words(n) & SIDE_WORDS]


def without_flip(chosen: dict[str, object], class_names: list[str]) -> tuple[dict[str, object], str]:
    """A recipe's flip, dropped when a class name has a side in it; returns (settings, why or "")."""
    kinds = [a.strip() for a in str(chosen.get("augment") or "").split(",") if a.strip()]
    named = sided(class_names)
    if "flip" not in kinds or not named:
        return chosen, ""
    shown = ", ".join(named[:3]) + (", ..." if len(named) > 3 else "")
    why = f"flip off: class names say left or right ({shown}); --augment {','.join(kinds)} turns it on"
    return {**chosen, "augment": ",".join(k for k in kinds if k != "flip") or "none"}, why


SURVEY_CLIPS = 60
"""The auto settings look at this many clips (evenly spread over the sorted list)."""
ZOOM_SHARE = 0.5
"""auto zoom: motion when the median clip moves within less than this share of the frame's side."""
ZOOM_NEAR = 0.05
"""auto zoom: a median this close to ZOOM_SHARE is a coin toss, so vc-train says so and how to choose.
On *yard* inside its region (README "One fixed camera") the median was 0.50, and the zoom auto left off
scored 0.30 higher."""
PAN_SHARE = 0.02
"""auto input: adiff when the median clip's camera moves this share of the frame's side or more per
sampled step. Measured (README "Taking the camera's motion out", `benchmarks/camera_motion.py`):
UT-Interaction's still cameras 0.003 (at most 0.006), the panned *pan* set 0.029 (at least 0.018),
*short-pan* 0.061, a hand-held tracking shot 0.038;
a still camera on a hand moving a cup across a third of a plain white view reads 0.0197: a large
object on a flat background pulls the median, so the bar sits above it."""
FRAMES = int(str(DEFAULTS["frames"]))
"""auto frames: the default T, unless the clips are too short to hold T + 1 distinct frames."""


@dataclass(frozen=True)
class Survey:
    """What the auto settings read from a sample of the clips (their frames only, no labels)."""

    shares: list[float]
    """Each clip's motion box side as a share of the frame's (lrcn.runtime.roi.box_share)."""
    frames: list[int]
    """Each clip's count of frames that really decode."""
    pans: list[float] = field(default_factory=list)
    """Each clip's camera motion: the median over its sampled steps of the global shift's length
    (lrcn.runtime.align.pair_shift), as a share of the frame's side."""

    @property
    def median_share(self) -> float | None:
        return median_clip(self.shares)

    @property
    def median_frames(self) -> int | None:
        return median_clip(self.frames)

    @property
    def median_pan(self) -> float | None:
        return median_clip(self.pans)

    @property
    def short(self) -> bool:
        """The median clip decodes FRAMES frames or fewer: too few for T = FRAMES steps without repeats."""
        median = self.median_frames
        return median is not None and median <= FRAMES


def median_clip(values):
    """The median clip's value (the upper one of an even count, so always a clip's own); None for none."""
    return sorted(values)[len(values) // 2] if values else None


def surveyed(paths: list[str]) -> list[str]:
    """The clips `survey` looks at: up to SURVEY_CLIPS of `paths`, evenly spread."""
    step = max(1, len(paths) / SURVEY_CLIPS) if paths else 1
    return [paths[int(i * step)] for i in range(min(len(paths), SURVEY_CLIPS))]


def survey(paths: list[str], timeout_s: float = 60.0, region: Rect = WHOLE) -> Survey:
    """Decode up to SURVEY_CLIPS of `paths` at a small size, cut to `region` (the model's; whole
    frames by default); unreadable ones are passed over (training names them)."""
    from lrcn.core.errors import VideoError
    from lrcn.runtime.roi import ANALYSIS_WIDTH, FIRST_GEOMETRY, box_share
    from lrcn.runtime.video import decode_video, sample_indices

    shares, frames, pans = [], [], []
    for p in surveyed(paths):
        try:
            video = decode_video(p, ANALYSIS_WIDTH, timeout_s=timeout_s, max_keep=256, region=region)
        except VideoError:
            continue
        # the box of the frames a default clip samples (T + 1 for diff)
        # with the first geometry's box: ZOOM_SHARE's threshold was set and measured on it
        sampled = video.frames[sample_indices(len(video.frames), FRAMES + 1)]
        shares.append(box_share(sampled, FIRST_GEOMETRY))
        frames.append(video.num_decoded)
        pans.append(camera_motion(sampled))
    return Survey(shares, frames, pans)


def camera_motion(frames) -> float:
    """Sampled frames (S, H, W, 3) uint8 -> the median over their steps of the global shift's length
    (`lrcn.runtime.align.pair_shift`) as a share of the side; 0.0 for fewer than 2 distinct frames.
    The steps are the distinct pairs `step_pairs` gives, so a short clip's repeated frames are no step."""
    import numpy as np

    from lrcn.runtime.align import pair_shift
    from lrcn.runtime.flow import grey
    from lrcn.runtime.preprocess import step_pairs

    if len(frames) < 2:
        return 0.0
    pairs = [(a, b) for a, b in np.unique(step_pairs(frames), axis=0).tolist() if a != b]
    steps = [float(np.hypot(*pair_shift(grey(frames[a]), grey(frames[b])))) for a, b in pairs]
    return float(np.median(steps)) / max(frames.shape[1:3]) if steps else 0.0


def frames_for(found: Survey) -> tuple[str, str]:
    """(T, why) for `--frames auto`: FRAMES, capped as the search caps it (the median clip's frames
    minus one), so that short clips are not padded by repeating their frames."""
    from lrcn.train.search_space import frames_cap

    median = found.median_frames
    if median is None:
        return str(FRAMES), ""
    t = min(FRAMES, frames_cap(median))
    if t == FRAMES:
        return str(t), ""
    return str(t), (
        f"frames {t}: the median clip decodes {median} frames, too few for T = {FRAMES} without "
        f"repeating some (--frames {FRAMES} pads them)"
    )


def input_for(found: Survey) -> tuple[str, str]:
    """(modality, why) for `--input auto`: diff; rgb+diff when the median clip is too short for
    T = FRAMES: a few frames hold a fraction of an action, so appearance is given beside motion
    (measured on UT and the short set, README "People small in the frame, short clips"). When the
    camera moves (PAN_SHARE), the aligned difference in place of diff: adiff, or rgb+adiff
    (measured on *pan* and *short-pan*, README "Taking the camera's motion out")."""
    median, pan, short = found.median_frames, found.median_pan, found.short
    modality = "rgb+diff" if short else "diff"
    why = (
        f"input rgb+diff: the median clip decodes {median} frames, too few for motion alone "
        "(--input diff for frame differences only)"
        if short
        else ""
    )
    if pan is None or pan < PAN_SHARE:
        return modality, why
    aligned = modality.replace("diff", "adiff")
    moving = f"the median clip's camera moves {pan:.3f} of the frame's side a step, {PAN_SHARE:g} or more"
    if short:
        return aligned, (
            f"input {aligned}: the median clip decodes {median} frames, too few for motion alone, and {moving}: "
            f"differences with that shift taken out (--input {modality} keeps them plain)"
        )
    return (
        aligned,
        f"input {aligned}: {moving}: differences with that shift taken out (--input {modality} keeps them plain)",
    )


def zoom_for(found: Survey) -> tuple[str, str]:
    """(zoom, why) for `--zoom auto`: motion when the median clip's motion box (lrcn.runtime.roi) is
    under ZOOM_SHARE of the frame's side, i.e. the action is small in a wider view."""
    share = found.median_share
    if share is None:
        return "none", ""
    where = f"the median clip moves within {share:.2f} of the frame's side ({len(found.shares)} clips looked at)"
    near = (
        f"; that is within {ZOOM_NEAR:g} of the line, so the choice is close: --budget compares both zooms on your folds"
        if abs(share - ZOOM_SHARE) < ZOOM_NEAR
        else ""
    )
    if share < ZOOM_SHARE:
        return (
            "motion",
            f"zoom motion: {where}, under {ZOOM_SHARE:g}: each clip is cut to its motion (--zoom none opts out){near}",
        )
    return "none", (
        f"zoom none: {where}, {ZOOM_SHARE:g} or more: whole frames (--zoom motion to cut clips anyway; "
        f"a box holds everything that moves, traffic and trees too){near}"
    )


def resolve(
    name: str, data_root: str | Path, classes: list[str] | None = None, num_classes: int | None = None
) -> tuple[str, str]:
    """(recipe, why): auto becomes small-real below SMALL_CLIPS clips in the data folder, else default."""
    if name not in CHOICES:
        raise ValueError(f"--recipe must be one of {', '.join(CHOICES)}, got {name!r}")
    if name != "auto":
        return name, f"recipe {name} (asked for)"
    n = count_clips(data_root, classes, num_classes)
    if n < SMALL_CLIPS:
        return (
            "small-real",
            f"recipe small-real: {n} clips in {data_root}, fewer than {SMALL_CLIPS} (--recipe default to opt out)",
        )
    return "default", f"recipe default: {n} clips in {data_root}, {SMALL_CLIPS} or more"


def members_for(family: str, members: int, from_recipe: bool) -> int:
    """The recipe's ensemble applies to families trained whole: a frozen backbone would be held once per
    member for nothing. A --members the user gave is kept (ModelConfig then refuses it in one line)."""
    from lrcn.models.specs import family_spec

    return 1 if from_recipe and family_spec(family).frozen_backbone else members


def settings(recipe: str, given: dict[str, object]) -> dict[str, object]:
    """Each option: the value given on the command line, else the recipe's, else the built-in default."""
    preset = RECIPES[recipe]
    return {k: given[k] if given.get(k) is not None else preset.get(k, DEFAULTS[k]) for k in DEFAULTS}
