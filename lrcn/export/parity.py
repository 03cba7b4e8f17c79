"""The parity gate's checks on one saved file: onnx.checker, symbolic dims, onnxruntime vs PyTorch.

Every comparison is on probabilities: max |Δprobs| over the batch and classes, and whether
the top-1 class agrees on every clip. A row passes with delta <= tolerance and equal top-1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lrcn.export.clips import ClipSet
from lrcn.export.graphs import GraphSpec
from lrcn.export.sources import ExportError
from lrcn.runtime import contract as K

TOLERANCE = 1e-5
BATCHES = (1, 3)


class ParityError(ExportError):
    """A saved graph that fails a check; the message says which and by how much."""


def clip_lengths(num_frames: int) -> list[int]:
    """T = 1, the trained T and 2T + 1 (a length no example used), without repeats."""
    return sorted({1, num_frames, 2 * num_frames + 1})


def cpu_session(path: str | Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _dims(value_info) -> list:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def check_file(path: Path, spec: GraphSpec) -> dict:
    """onnx.checker (full_check) and the symbolic axes of every input and output -> their dims."""
    import onnx

    try:
        onnx.checker.check_model(str(path), full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as e:
        raise ParityError(f"{spec.kind} graph fails onnx.checker: {str(e).splitlines()[0]}") from None
    graph = onnx.load(str(path), load_external_data=False).graph
    dims = {v.name: _dims(v) for v in (*graph.input, *graph.output)}
    for name, axes in (*spec.axes.items(), *spec.output_axes.items()):
        if name not in dims:
            raise ParityError(f"{spec.kind} graph has no tensor named {name!r}")
        for axis, want in axes.items():
            got = dims[name][axis] if axis < len(dims[name]) else None
            if got != want:
                raise ParityError(
                    f"{spec.kind} graph: {name} axis {axis} is {got!r}, not the symbolic {want!r}"
                    " (the exporter froze it)"
                )
    return dims


def torch_probs(model: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """The PyTorch reference: (B, T, C, S, S) -> probs (B, K)."""
    with torch.inference_mode():
        return torch.softmax(model(torch.from_numpy(x)), dim=-1).numpy()


def compare(got: np.ndarray, ref: np.ndarray, t: int, b: int, tol: float) -> dict:
    delta = float(np.abs(got.astype(np.float64) - ref.astype(np.float64)).max())
    top1 = bool((got.argmax(-1) == ref.argmax(-1)).all())
    return {"T": t, "batch": b, "max_abs_dprobs": delta, "top1_match": top1, "passed": delta <= tol and top1}


def run_rows(name: str, predict, model, clips: ClipSet, lengths: list[int], tol: float) -> list[dict]:
    """predict(x (B, T, C, S, S)) -> probs, compared with PyTorch at every length and batch size."""
    rows = []
    for t in lengths:
        x = clips.clips(t, max(BATCHES))
        for b in BATCHES:
            xb = np.ascontiguousarray(x[:b])
            try:
                got = predict(xb)
            except Exception as e:  # noqa: BLE001 - onnxruntime's errors, e.g. a shape frozen at export
                raise ParityError(
                    f"{name}: onnxruntime fails at T={t}, batch {b} ({str(e).strip().splitlines()[0][:200]})"
                ) from None
            rows.append(compare(got, torch_probs(model, xb), t, b, tol))
    return rows


def full_predictor(session):
    return lambda x: session.run([K.OUTPUT_PROBS], {K.INPUT_FRAMES: x})[0]


def summarize(rows: list[dict]) -> dict:
    return {
        "max_abs_dprobs": max((r["max_abs_dprobs"] for r in rows), default=0.0),
        "top1_match": all(r["top1_match"] for r in rows),
        "passed": all(r["passed"] for r in rows),
        "rows": rows,
    }


def require(name: str, summary: dict, tol: float) -> None:
    if not summary["passed"]:
        bad = next(r for r in summary["rows"] if not r["passed"])
        why = "top-1 differs" if not bad["top1_match"] else f"max |Δprobs| {bad['max_abs_dprobs']:.2e} > {tol:g}"
        raise ParityError(f"{name}: onnxruntime differs from PyTorch at T={bad['T']}, batch {bad['batch']}: {why}")
