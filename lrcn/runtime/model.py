"""An exported lrcn model on onnxruntime: the full graph, its streaming parts, and load-time checks.

Everything the runtime needs comes from the metadata document (`contract.ModelMetadata`); a
file that is not a usable lrcn model fails here in one line (ModelError), before any video.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from lrcn.core.errors import ModelError
from lrcn.core.paths import MODELS_DIR
from lrcn.runtime import contract as K
from lrcn.runtime.session import SessionConfig, SessionFactory

DEFAULT_MODELS_DIR = MODELS_DIR
_NOT_DEFAULT = tuple(K.PART_SUFFIX.values()) + (".fp16.onnx", ".int8.onnx")


def newest_model(root: str | Path = DEFAULT_MODELS_DIR) -> Path | None:
    """The most recently written full fp32 model under `root` (parts and edge variants skipped)."""
    root = Path(root)
    if not root.is_dir():
        return None
    found = [p for p in root.rglob("*.onnx") if p.is_file() and not p.name.endswith(_NOT_DEFAULT)]
    return max(found, key=lambda p: p.stat().st_mtime_ns, default=None)


def read_metadata(session, path: Path) -> K.ModelMetadata:
    text = session.get_modelmeta().custom_metadata_map.get(K.METADATA_KEY)
    if text is None:
        raise ModelError(f"{path}: no lrcn metadata (not written by vc-export, or a truncated file)")
    return K.ModelMetadata.from_json(text, source=str(path))


def _dim(shape, axis: int):
    try:
        d = shape[axis]
    except IndexError:
        return None
    return d if isinstance(d, int) else None


def _numpy_dtype(ort_type: str):
    return np.float16 if ort_type == "tensor(float16)" else np.float32


class Part:
    """One session with its input names and the float dtype it wants."""

    def __init__(self, session, path: Path):
        self.session, self.path = session, path
        self.inputs = {i.name: i for i in session.get_inputs()}
        self.outputs = {o.name: o for o in session.get_outputs()}

    def run(self, outputs: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        typed = {k: np.ascontiguousarray(v, dtype=_numpy_dtype(self.inputs[k].type)) for k, v in feeds.items()}
        return [np.asarray(o, dtype=np.float32) for o in self.session.run(outputs, typed)]

    def require(self, inputs: tuple[str, ...], outputs: tuple[str, ...], what: str) -> None:
        missing = [n for n in inputs if n not in self.inputs] + [n for n in outputs if n not in self.outputs]
        if missing:
            raise ModelError(
                f"{self.path}: the {what} has no tensor(s) {', '.join(missing)} "
                f"(has inputs {', '.join(self.inputs)}; outputs {', '.join(self.outputs)})"
            )


class LrcnModel:
    """The full model (loaded at once) and its parts (loaded when stream mode first needs them).

    `meta` is the full file's metadata; every part runs on the providers the full model got.
    """

    def __init__(self, path: str | os.PathLike, session_cfg: SessionConfig | None = None):
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"{self.path}: no such model file")
        self.factory = SessionFactory(session_cfg)
        self.full = Part(self.factory.create(self.path), self.path)
        self.meta = read_metadata(self.full.session, self.path)
        self._parts: dict[str, Part] = {}
        self._check_full()

    @property
    def providers(self) -> list[str]:
        return self.factory.providers

    def _check_full(self) -> None:
        m = self.meta
        if m.kind != "full":
            raise ModelError(f"{self.path}: this is the {m.kind} part of a model; pass the full model file")
        self.full.require((K.INPUT_FRAMES,), (K.OUTPUT_PROBS,), "model")
        self._check_classes(self.full)
        shape = self.full.inputs[K.INPUT_FRAMES].shape
        if len(shape) != 5:
            raise ModelError(f"{self.path}: input '{K.INPUT_FRAMES}' has rank {len(shape)}, expected 5 (B, T, C, H, W)")
        want = (m.preprocess.channels, m.preprocess.img_size, m.preprocess.img_size)
        got = tuple(_dim(shape, a) for a in (2, 3, 4))
        if any(g is not None and g != w for g, w in zip(got, want)):
            raise ModelError(f"{self.path}: input is (C, H, W) = {got} but the metadata says {want}")

    def _check_classes(self, part: Part) -> None:
        k = _dim(part.outputs[K.OUTPUT_PROBS].shape, -1)
        if k is not None and k != self.meta.num_classes:
            raise ModelError(
                f"{part.path}: the metadata names {self.meta.num_classes} classes but the model outputs {k}"
            )

    def part(self, kind: str) -> Part:
        """The streaming part `kind` ("encoder", "head", "step"); ModelError when it is missing."""
        if kind in self._parts:
            return self._parts[kind]
        rel = self.meta.parts.get(kind)
        absent = self.meta.extra.get("step_absent")
        if kind == "step" and (self.meta.bidirectional or (not rel and isinstance(absent, str))):
            why = absent.split(",")[0] if isinstance(absent, str) else "bidirectional head"  # up to its advice
            raise ModelError(f"{self.path}: no step part ({why}); drop --stateful")
        if not rel and self.meta.precision != "fp32":
            fp32 = self.meta.extra.get("full", "the fp32 model")
            raise ModelError(
                f"{self.path}: the {self.meta.precision} variant has no streaming parts; "
                f"stream with {fp32}, or use clip mode"
            )
        if not rel:
            raise ModelError(f"{self.path}: the metadata lists no {kind} part; re-export with vc-export")
        path = self._part_path(kind, rel)
        if not path.is_file():
            raise ModelError(f"{path}: the {kind} part of {self.path.name} is missing; re-export with vc-export")
        # the window alternates two sessions a frame (encoder, head): spinning workers of one would
        # steal the cores from the other, and vc-bench measured the window's cost per frame nearly
        # doubled end to end with spinning on; the step model is one session and keeps the default
        part = Part(self.factory.create(path, spinning=False if kind != "step" else None), path)
        meta = read_metadata(part.session, path)
        if meta.kind != kind:
            raise ModelError(f"{path}: metadata says kind {meta.kind!r}, expected {kind!r}")
        if meta.checkpoint_sha256 != self.meta.checkpoint_sha256:
            raise ModelError(f"{path}: exported from another checkpoint than {self.path.name}; re-export both")
        self._check_same(meta, path)
        io = {
            "encoder": ((K.INPUT_FRAME,), (K.FEATURES,)),
            "head": ((K.FEATURES,), (K.OUTPUT_PROBS,)),
            "step": ((K.INPUT_FRAME, K.STATE_H, K.STATE_C), (K.OUTPUT_PROBS, K.STATE_H_OUT, K.STATE_C_OUT)),
        }
        part.require(*io[kind], f"{kind} part")
        if kind != "encoder":
            self._check_classes(part)
        self._parts[kind] = part
        return part

    def _part_path(self, kind: str, rel: str) -> Path:
        """The part's file: a plain name (meta_rules) that resolves to a file in the model's own folder,
        so metadata can never open `../x.onnx`, an absolute path or a network share."""
        from lrcn.runtime.meta_rules import plain_part_name

        folder = self.path.parent.resolve()
        path = self.path.parent / rel
        if not plain_part_name(rel) or path.resolve().parent != folder:
            raise ModelError(f"{self.path}: the {kind} part {rel!r} is not a file in the model's folder {folder}")
        return path

    def _check_same(self, meta: K.ModelMetadata, path: Path) -> None:
        """A part must be of the same model: classes, T, preprocessing and LSTM shape."""
        m = self.meta
        for field in (
            "class_names",
            "num_frames",
            "preprocess",
            "bidirectional",
            "lstm_layers",
            "hidden_size",
            "latent_dim",
        ):
            if getattr(meta, field) != getattr(m, field):
                raise ModelError(f"{path}: its {field} differs from {self.path.name}'s; re-export both")

    def probs(self, clips: np.ndarray) -> np.ndarray:
        """clips (B, T, C, H, W) float32 -> class probabilities (B, K)."""
        return self.full.run([K.OUTPUT_PROBS], {K.INPUT_FRAMES: clips})[0]
