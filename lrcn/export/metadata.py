"""The metadata document every exported file carries (lrcn.runtime.contract), built from a run.

Torch-free: it reads the run's config dict and writes JSON into an onnx ModelProto.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import lrcn
from lrcn.runtime.contract import METADATA_KEY, ModelMetadata
from lrcn.runtime.preprocess import PreprocessSpec


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_metrics(run_dir: Path | None) -> dict:
    """The run's metrics.json (test/val accuracy, epochs, ...), {} when there is none."""
    if run_dir is None:
        return {}
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text())
    except (OSError, ValueError):
        return {}
    return metrics if isinstance(metrics, dict) else {}


def build_metadata(
    config: dict,
    *,
    kind: str,
    parts: dict[str, str],
    metrics: dict,
    checkpoint_sha256: str,
    exported: str,
    precision: str = "fp32",
    extra: dict | None = None,
) -> ModelMetadata:
    """A run's config.json dict -> the document for one exported file."""
    model, pre = config["model"], config["preprocess"]
    # the runtime sizes features and state from these: an ensemble's are its members' side by side
    members = int(model.get("members", 1))
    return ModelMetadata(
        kind=kind,
        family=model["name"],
        class_names=list(config["class_names"]),
        num_frames=int(pre["num_frames"]),
        preprocess=PreprocessSpec.from_dict(pre),
        sample_fps=pre.get("sample_fps"),
        bidirectional=bool(model["bidirectional"]),
        lstm_layers=int(model["lstm_layers"]),
        hidden_size=int(model["hidden_size"]) * members,
        latent_dim=int(model["latent_dim"]) * members,
        precision=precision,
        parts=dict(parts),
        metrics=dict(metrics),
        checkpoint_sha256=checkpoint_sha256,
        exported=exported,
        lrcn_version=lrcn.__version__,
        extra={
            "trained_with": config.get("lrcn_version"),
            "sampled_frames": pre.get("sampled_frames"),
            **({"members": members} if members > 1 else {}),
            **({"pool": model["pool"]} if model.get("pool", "last") != "last" else {}),
            **(extra or {}),
        },
    )


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def stamp(proto, meta: ModelMetadata) -> None:
    """Write `meta` under METADATA_KEY in proto.metadata_props, replacing an older entry."""
    keep = [p for p in proto.metadata_props if p.key != METADATA_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(keep)
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, meta.to_json()


TRACE_KEYS = ("pkg.torch.onnx.stack_trace", "pkg.torch.onnx.fx_node")


def strip_node_metadata(proto, keys: tuple[str, ...] | None = TRACE_KEYS) -> None:
    """Drop the exporter's per-node notes: `keys` (default: the Python stack traces and FX node
    dumps, which hold this machine's file paths and are most of a small model's bytes), or all
    of them with keys=None. Module scopes stay for Netron unless keys is None."""
    for node in proto.graph.node:
        keep = [p for p in node.metadata_props if keys is not None and p.key not in keys]
        del node.metadata_props[:]
        node.metadata_props.extend(keep)


def read_metadata(proto, source: str = "model") -> ModelMetadata | None:
    """The parsed document of an onnx ModelProto, None when it has none (not an lrcn export)."""
    for p in proto.metadata_props:
        if p.key == METADATA_KEY:
            return ModelMetadata.from_json(p.value, source)
    return None
