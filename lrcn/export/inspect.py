"""What is inside an .onnx file, as data and as text, and serving it in Netron. Torch-free.

`summarize(path)` -> dict: inputs and outputs with their dims (symbolic ones as strings),
opsets, an operator histogram, parameter count, file size, and the lrcn metadata when present.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from lrcn.core.errors import LrcnError, ModelError
from lrcn.core.text import printable
from lrcn.runtime.contract import METADATA_KEY
from lrcn.runtime.rect import WHOLE, rect_text


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ModelError("reading .onnx files needs the onnx package (pip install onnx)") from None
    return onnx


def _tensor(value_info, onnx) -> dict:
    t = value_info.type.tensor_type
    dims = [d.dim_param or (d.dim_value if d.HasField("dim_value") else "?") for d in t.shape.dim]
    try:
        kind = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name
    except (KeyError, ValueError, TypeError):  # a newer or made-up element type: say so, don't fail
        kind = f"elem_type {t.elem_type} (unknown)"
    return {"name": value_info.name, "type": kind, "dims": dims}


def summarize(path: str | Path) -> dict:
    """The facts `vc-inspect` prints, as plain data."""
    onnx = _onnx()
    from lrcn.export.metadata import read_metadata

    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001 - protobuf raises several kinds
        raise ModelError(f"{path}: not an ONNX model ({type(e).__name__})") from None
    graph = proto.graph
    init_names = {i.name for i in graph.initializer}
    meta = read_metadata(proto, str(path))
    return {
        "path": str(path),
        "size_bytes": os.path.getsize(path),
        "ir_version": proto.ir_version,
        "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
        "opsets": {o.domain or "ai.onnx": o.version for o in proto.opset_import},
        "inputs": [_tensor(v, onnx) for v in graph.input if v.name not in init_names],
        "outputs": [_tensor(v, onnx) for v in graph.output],
        "nodes": len(graph.node),
        "ops": dict(Counter((f"{n.domain}." if n.domain else "") + n.op_type for n in graph.node).most_common()),
        "parameters": sum(math.prod(i.dims) for i in graph.initializer),
        "initializers": len(graph.initializer),
        "metadata": meta,
        "other_metadata": {p.key: p.value for p in proto.metadata_props if p.key != METADATA_KEY},
    }


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def _dims(dims: list) -> str:
    return "[" + ", ".join(str(d) for d in dims) + "]"


METRIC_KEYS = ("test_accuracy", "val_accuracy", "test_loss", "best_epoch", "epochs")


def _metadata_lines(meta) -> list[str]:
    p = meta.preprocess
    lines = [
        f"lrcn metadata (schema {meta.schema_version})",
        f"  kind {meta.kind} · family {meta.family} · precision {meta.precision}",
        f"  classes ({meta.num_classes}): {', '.join(meta.class_names)}",
        f"  clip: T={meta.num_frames} frames at {f'{meta.sample_fps:.3g}' if meta.sample_fps else '?'} sampled fps, "
        f"{p.img_size}x{p.img_size}, "
        f"modality {p.modality} ({p.channels} channels), {p.channel_order}, {p.layout}",
        f"  normalise: mean {list(p.mean)} std {list(p.std)}",
        f"  head: LSTM {meta.lstm_layers} layer(s), hidden {meta.hidden_size}, latent {meta.latent_dim}, "
        f"{'bidirectional' if meta.bidirectional else 'unidirectional'}"
        + (f", {meta.extra['pool']} over time" if meta.extra.get("pool") else "")
        + (f" ({meta.extra['members']} members side by side)" if meta.extra.get("members") else ""),
    ]
    cuts = [f"region {rect_text(p.region)} of the view"] if p.region != WHOLE else []
    cuts += [f"zoom {p.zoom} (margin {p.zoom_geometry.margin:g}, grid {p.zoom_geometry.grid})"] if p.zoomed else []
    if cuts:
        lines.append("  cut: " + ", then ".join(cuts))
    if meta.parts:
        lines.append("  parts: " + ", ".join(f"{k} {v}" for k, v in meta.parts.items()))
    for key in ("step_absent", "variant_of"):
        if key in meta.extra:
            lines.append(f"  {key.replace('_', ' ')}: {meta.extra[key]}")
    keys = [k for k in METRIC_KEYS if k in meta.metrics] or list(meta.metrics)
    shown = {k: meta.metrics[k] for k in keys if isinstance(meta.metrics[k], (int, float))}
    if shown:
        lines.append(
            "  metrics: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items())
        )
    lines.append(f"  checkpoint sha256 {meta.checkpoint_sha256 or '?'}")
    lines.append(f"  exported {meta.exported or '?'} by lrcn {meta.lrcn_version or '?'}")
    return lines


def format_summary(info: dict) -> str:
    """The text vc-inspect prints."""
    opsets = ", ".join(f"{d} {v}" for d, v in info["opsets"].items())
    lines = [
        f"{info['path']}  {human_size(info['size_bytes'])}  opset {opsets}  ir {info['ir_version']}"
        f"  ({info['producer'] or 'unknown producer'})"
    ]
    for title in ("inputs", "outputs"):
        lines.append(title)
        width = max((len(t["name"]) for t in info[title]), default=0)
        lines += [f"  {t['name']:<{width}}  {t['type']}  {_dims(t['dims'])}" for t in info[title]]
    lines.append(f"parameters {info['parameters']:,} in {info['initializers']} initializers")
    lines.append(f"operators ({info['nodes']} nodes): " + ", ".join(f"{k} {v}" for k, v in info["ops"].items()))
    if info["metadata"] is not None:
        lines += _metadata_lines(info["metadata"])
    else:
        lines.append("no lrcn metadata: not a vc-export model")
    lines += [f"{k}: {v[:200]}" for k, v in info["other_metadata"].items()]
    return "\n".join(printable(line) for line in lines)  # names and metadata are data: no escapes, no newlines


SERVED_NAME = "model.onnx"
"""The name Netron sees: fixed, so a file name never reaches its page (a hostile one injected script)."""
HOST = "127.0.0.1"


@dataclass
class Served:
    """A Netron server on 127.0.0.1 over a private copy of one model; `close()` stops it and removes the copy."""

    url: str
    folder: Path

    def close(self) -> None:
        stop_serving(self.url)
        shutil.rmtree(self.folder, ignore_errors=True)


def serve(path: str | Path, port: int | None = None, browse: bool = False) -> Served:
    """Serve a copy of `path` in Netron on 127.0.0.1 (a background thread).

    Netron serves every file under its model's folder at /data/..., so the model is copied alone
    into a fresh private (0700) temp folder under a fixed name, and that folder goes on close()
    or at exit. port None or 0: an ephemeral one (Netron would try 8080 first); a busy port is
    one LrcnError.
    """
    import atexit

    import netron

    folder = Path(tempfile.mkdtemp(prefix="lrcn-inspect-"))
    try:
        shutil.copyfile(path, folder / SERVED_NAME)
        host, bound = netron.serve(str(folder / SERVED_NAME), address=(HOST, port or 0), browse=browse)
    except OSError as e:
        shutil.rmtree(folder, ignore_errors=True)
        where = f"port {port} on {HOST}" if port else HOST
        raise LrcnError(
            f"--port: cannot serve Netron at {where} ({e.strerror or e}); choose another port or leave --port out"
        ) from None
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    served = Served(f"http://{host}:{bound}", folder)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return served


def stop_serving(url: str) -> None:
    import netron

    host, port = url.rsplit("//", 1)[1].rsplit(":", 1)
    netron.stop((host, int(port)))
