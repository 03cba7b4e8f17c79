"""Strict checks of the metadata document, before any field is trusted.

A model may come from anywhere, and the runtime sizes buffers and sessions from its metadata,
so every field is checked for its type, for finite numbers and against the upper bounds below
before a `ModelMetadata` is built. Part files must be plain file names (they are joined to the
model's folder). A violation is one `ModelError` naming the model file and the field.
"""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath
from typing import TypeGuard

from lrcn.core.checks import IMG_SIZE_MAX, WIDTH_MAX
from lrcn.core.errors import ModelError
from lrcn.runtime.preprocess import MODALITIES, channels_for
from lrcn.runtime.rect import WHOLE, rect_problem
from lrcn.runtime.roi import FIELDS, FIRST_GEOMETRY, ZOOMS, ZoomGeometry, finite_number, problems_of, work_size

MAX_METADATA_BYTES = 1 << 20
"""The whole document (ours is ~1-2 kB; a 1000-class model ~30 kB)."""
MAX_CLASSES = 10_000
MAX_CLASS_NAME = 256
MAX_FRAMES = 512
MAX_IMG_SIZE = IMG_SIZE_MAX
"""core.checks owns it (what training accepts); the runtime reads sizes from 8 up (older or hand-made models)."""
MAX_CLIP_VALUES = 1 << 27
"""T x C x H x W of one clip: 512 MiB of float32 at most."""
MAX_LSTM_LAYERS = 16
MAX_WIDTH = WIDTH_MAX
"""hidden_size and latent_dim (core.checks owns it: what training accepts)."""
MAX_SAMPLE_FPS = 1000.0
MAX_TEXT = 256
"""family, precision, version strings, part names, checkpoint hash."""
PART_KINDS = ("encoder", "head", "step")
PRECISIONS = ("fp32", "fp16", "int8")


def _int(v: object) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _finite(v) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and finite_number(v)


def _text(v, limit: int = MAX_TEXT) -> bool:
    return isinstance(v, str) and 0 < len(v) <= limit


def plain_part_name(name) -> bool:
    """A file name and nothing else: no folder, drive, UNC share, `..`, NUL; ends with .onnx."""
    return (
        _text(name)
        and name.endswith(".onnx")
        and "\0" not in name
        and name not in (".", "..")
        and PurePosixPath(name).name == name
        and PureWindowsPath(name).name == name
        and ":" not in name
    )


def check_document(d: dict, source: str) -> None:
    """Raise ModelError(source: field ...) unless `d` (the decoded JSON object) is within the rules."""

    def need(ok: bool, field: str, rule: str) -> None:
        if not ok:
            raise ModelError(f"{source}: lrcn metadata field {field!r} is invalid ({rule})")

    need(_int(d.get("schema_version")) and d["schema_version"] >= 1, "schema_version", "an integer >= 1")
    need(isinstance(d.get("kind"), str), "kind", "a string")
    need(_text(d.get("family"), 64), "family", "a string of 1-64 characters")
    names = d.get("class_names")
    need(isinstance(names, list) and 0 < len(names) <= MAX_CLASSES, "class_names", f"a list of 1-{MAX_CLASSES} names")
    assert isinstance(names, list)  # need() raised otherwise
    need(all(_text(n, MAX_CLASS_NAME) for n in names), "class_names", f"strings of 1-{MAX_CLASS_NAME} characters")
    t = d.get("num_frames")
    need(_int(t) and 1 <= t <= MAX_FRAMES, "num_frames", f"an integer in 1-{MAX_FRAMES}")
    assert _int(t)  # need() raised otherwise
    for key, top in (("lstm_layers", MAX_LSTM_LAYERS), ("hidden_size", MAX_WIDTH), ("latent_dim", MAX_WIDTH)):
        need(_int(d.get(key)) and 1 <= d[key] <= top, key, f"an integer in 1-{top}")
    need(isinstance(d.get("bidirectional"), bool), "bidirectional", "true or false")
    fps = d.get("sample_fps")
    need(
        fps is None or (_finite(fps) and 0 < fps <= MAX_SAMPLE_FPS), "sample_fps", f"null or in (0, {MAX_SAMPLE_FPS:g}]"
    )
    need(d.get("precision", "fp32") in PRECISIONS, "precision", " or ".join(PRECISIONS))
    parts = d.get("parts", {})
    need(
        isinstance(parts, dict) and set(parts) <= set(PART_KINDS),
        "parts",
        f"an object with keys {', '.join(PART_KINDS)}",
    )
    need(all(plain_part_name(v) for v in parts.values()), "parts", "plain .onnx file names in the model's folder")
    for key in ("metrics", "extra"):
        need(isinstance(d.get(key, {}), dict), key, "an object")
    for key in ("checkpoint_sha256", "exported", "lrcn_version"):
        need(d.get(key) is None or _text(d[key]), key, f"null or a string of 1-{MAX_TEXT} characters")
    _check_preprocess(d.get("preprocess"), t, need)


def _check_preprocess(p, t: int, need) -> None:
    need(isinstance(p, dict), "preprocess", "an object")
    size = p.get("img_size")
    need(_int(size) and 8 <= size <= MAX_IMG_SIZE, "preprocess.img_size", f"an integer in 8-{MAX_IMG_SIZE}")
    need(p.get("modality", "rgb") in MODALITIES, "preprocess.modality", " or ".join(MODALITIES))
    need(p.get("zoom", "none") in ZOOMS, "preprocess.zoom", " or ".join(ZOOMS))
    g = p.get("zoom_geometry", FIRST_GEOMETRY.to_dict())  # absent: saved before it was recorded
    need(isinstance(g, dict), "preprocess.zoom_geometry", "an object")
    wrong = problems_of(*(g.get(k) for k in FIELDS))
    need(not wrong, "preprocess.zoom_geometry", "; ".join(wrong))
    region = p.get("region", list(WHOLE))  # absent: saved before regions, the whole view
    need(rect_problem(region) is None, "preprocess.region", "4 numbers x0,y0,x1,y1 in [0, 1], x0 < x1, y0 < y1")
    for key, low in (("mean", -1e3), ("std", 1e-6)):
        v = p.get(key, [0.5, 0.5, 0.5])
        need(
            isinstance(v, list) and len(v) == 3 and all(_finite(x) and low <= x <= 1e3 for x in v),
            f"preprocess.{key}",
            f"3 finite numbers in [{low:g}, 1000]",
        )
    need(p.get("channel_order", "RGB") == "RGB", "preprocess.channel_order", "RGB")
    need(p.get("layout", "TCHW") == "TCHW", "preprocess.layout", "TCHW")
    channels = channels_for(p.get("modality", "rgb"))
    need(
        (t + 1) * channels * size * size <= MAX_CLIP_VALUES,
        "num_frames x img_size",
        f"one clip of at most {MAX_CLIP_VALUES} values",
    )
    zoomed = ZoomGeometry.from_dict(g) if p.get("zoom", "none") != "none" else None
    side = work_size(size, zoomed)  # a zoomed stream keeps its window's frames this large
    need(
        (t + 1) * 3 * side * side <= MAX_CLIP_VALUES,
        "num_frames x img_size",
        f"one zoomed window of at most {MAX_CLIP_VALUES} bytes",
    )
