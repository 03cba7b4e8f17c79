"""The export <-> runtime contract: tensor names, part files and the metadata document.

An exported model is the only thing the runtime gets, so everything needed to use it lives
in one JSON document under METADATA_KEY in the ONNX file's metadata_props.

Files `vc-export` writes for model family M (default folder artifacts/models/):
- M.onnx          kind "full":    frames (B, T, C, H, W) -> logits, probs (B, K)
- M.encoder.onnx  kind "encoder": frame (B, C, H, W) -> features (B, L)         (one CNN pass per frame)
- M.head.onnx     kind "head":    features (B, T, L) -> logits, probs (B, K)    (exact sliding window)
- M.step.onnx     kind "step":    frame (B, C, H, W), h, c (layers, B, H) -> probs, h_out, c_out
                  (unidirectional models only: state-carrying stream)
- M.fp16.onnx, M.int8.onnx        kind "full", with "precision" set (edge variants)
- M.int8.encoder.onnx, M.int8.step.onnx   the int8 variant's parts (static int8 Conv layers);
                  its metadata lists them with the fp32 M.head.onnx, so it streams too
- M.parity.json   the parity gate's figures
B and T are symbolic ("batch", "time") in every file. C follows the modality (preprocess.CHANNELS: 3, 6, 2 or 5).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from lrcn.core.errors import ModelError
from lrcn.core.paths import PART_SUFFIX  # noqa: F401 - part of the contract
from lrcn.runtime.preprocess import PreprocessSpec
from lrcn.runtime.rect import WHOLE
from lrcn.runtime.roi import FIRST_GEOMETRY

METADATA_KEY = "lrcn"
SCHEMA_VERSION = 4
"""The newest schema this lrcn reads. 2 added preprocess.zoom: a zoomed model is written as schema 2,
so an lrcn from before refuses it ("upgrade lrcn") rather than running it on whole frames. 3 added
preprocess.zoom_geometry: a zoomed model cut with another geometry than `roi.FIRST_GEOMETRY` (the
only one schema 2 knew) is written as schema 3, so a schema-2 lrcn refuses it rather than cutting
it with the first geometry. 4 added preprocess.region: a model trained on a region of the view is
written as schema 4, so an older lrcn refuses it rather than running it on the whole view. Every
other model is still written as the oldest schema that holds it (1 for whole, unzoomed frames)."""


def schema_for(preprocess: PreprocessSpec) -> int:
    """The oldest schema that holds what this preprocessing needs."""
    if preprocess.region != WHOLE:
        return 4
    if preprocess.zoomed is None:
        return 1
    return 2 if preprocess.zoomed == FIRST_GEOMETRY else 3


INPUT_FRAMES = "frames"
INPUT_FRAME = "frame"
FEATURES = "features"
OUTPUT_LOGITS = "logits"
OUTPUT_PROBS = "probs"
STATE_H, STATE_C = "h", "c"
STATE_H_OUT, STATE_C_OUT = "h_out", "c_out"
BATCH_DIM, TIME_DIM = "batch", "time"

KINDS = ("full", "encoder", "head", "step")


@dataclass
class ModelMetadata:
    """The parsed metadata document (schema 1 to 4; `to_json` writes the oldest that holds it)."""

    kind: str
    family: str
    class_names: list[str]
    num_frames: int
    """T the model was trained with."""
    preprocess: PreprocessSpec
    sample_fps: float | None
    """Sampled frames per second of video in training (median); stream mode feeds at this rate."""
    bidirectional: bool
    lstm_layers: int
    hidden_size: int
    latent_dim: int
    precision: str = "fp32"
    parts: dict[str, str] = field(default_factory=dict)
    """Streaming part files by kind: plain file names in the full model's folder (meta_rules)."""
    metrics: dict = field(default_factory=dict)
    checkpoint_sha256: str | None = None
    exported: str | None = None
    lrcn_version: str | None = None
    schema_version: int = 1
    extra: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_json(self) -> str:
        d = {k: v for k, v in self.__dict__.items() if k != "preprocess"}
        d["preprocess"] = self.preprocess.to_dict()
        d["schema_version"] = max(self.schema_version, schema_for(self.preprocess))
        return json.dumps(d, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, source: str = "model") -> ModelMetadata:
        """Parse and check the document (meta_rules: types, finite numbers, upper bounds, a size cap)."""
        from lrcn.runtime.meta_rules import MAX_METADATA_BYTES, check_document

        if not isinstance(text, str) or len(text) > MAX_METADATA_BYTES:
            raise ModelError(f"{source}: lrcn metadata is over {MAX_METADATA_BYTES} bytes, not an lrcn export")
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ModelError(f"{source}: lrcn metadata is not valid JSON ({e.msg})") from None
        except ValueError:  # an integer of more digits than Python converts (4300)
            raise ModelError(f"{source}: lrcn metadata holds a number too long to read") from None
        except RecursionError:
            raise ModelError(f"{source}: lrcn metadata is nested too deeply") from None
        if not isinstance(d, dict):
            raise ModelError(f"{source}: lrcn metadata is not a JSON object")
        version = d.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ModelError(f"{source}: lrcn metadata has no schema_version")
        if version > SCHEMA_VERSION:
            shown = version if version < 10**6 else "above 10^6"  # the message stays one short line
            raise ModelError(
                f"{source}: metadata schema {shown} is newer than this lrcn reads ({SCHEMA_VERSION}); upgrade lrcn"
            )
        check_document(d, source)
        try:
            pre = PreprocessSpec.from_dict(d["preprocess"])
            known = set(cls.__dataclass_fields__)
            meta = cls(**{k: v for k, v in d.items() if k in known and k != "preprocess"}, preprocess=pre)
        except (KeyError, TypeError, ValueError) as e:
            raise ModelError(f"{source}: lrcn metadata is incomplete or invalid ({e})") from None
        if meta.kind not in KINDS:
            raise ModelError(f"{source}: unknown model kind {meta.kind[:40]!r}")
        if len(set(meta.class_names)) != len(meta.class_names):
            raise ModelError(f"{source}: metadata class names are repeated")
        return meta
