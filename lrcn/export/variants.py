"""Edge variants of an exported fp32 model: fp16 weights, int8 quantization.

int8: with calibration clips, every Conv is quantized statically (QDQ: per-channel int8
weights, uint8 activations with scales fixed by the calibration), then the LSTM and
Gemm/MatMul dynamically. Without them everything is dynamic, and each Conv becomes a
ConvInteger that quantizes its input at run time: vc-bench's profile showed that on the
reference CPU as slow as the fp32 Conv, while the static QLinearConv runs several times faster.

Each variant is measured against the fp32 file it came from: file size, CPU latency (one clip
of the trained T) and top-1 agreement on the validation clips. Below MIN_AGREEMENT the variant
is refused and never reaches its target path. Inputs and outputs stay float32, so the runtime
feeds a variant exactly as it feeds the fp32 model.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from lrcn.export.clips import ClipSet
from lrcn.export.parity import cpu_session
from lrcn.runtime import contract as K

PRECISIONS = ("fp16", "int8")
MIN_AGREEMENT = 0.98
SUFFIX = {"fp16": ".fp16.onnx", "int8": ".int8.onnx"}


def _prune_opsets(proto) -> None:
    # onnxruntime's saved graphs import every domain it knows; keep those the nodes use
    used = {n.domain for n in proto.graph.node} | {""}
    keep = [o for o in proto.opset_import if o.domain in used]
    del proto.opset_import[:]
    proto.opset_import.extend(keep)


def folded(src: Path, workdir: Path):
    """The fp32 graph after onnxruntime's basic (hardware-independent) optimizations.

    The exporter leaves the LSTM weights' gate reordering (Slice + Concat) in the graph;
    folding it makes W and R plain initializers, which the quantizer needs to quantize the LSTM.
    """
    import onnx
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.optimized_model_filepath = str(workdir / "folded.onnx")
    opts.log_severity_level = 3
    ort.InferenceSession(str(src), opts, providers=["CPUExecutionProvider"])
    proto = onnx.load(str(workdir / "folded.onnx"))
    del proto.graph.value_info[:]  # stale shapes from the exporter trip the quantizer's inference
    _prune_opsets(proto)
    return proto


class _Calibration:
    """What quantize_static reads calibration data from (CalibrationDataReader's methods): one clip a feed."""

    def __init__(self, clips: np.ndarray):
        self._it = iter([{K.INPUT_FRAMES: clips[i:i + 1]} for i in range(len(clips))])

    def get_next(self):
        return next(self._it, None)

    def rewind(self) -> None:  # asked for by some onnxruntime versions; one pass is all there is
        pass


def make_variant(precision: str, src: Path, calibration: np.ndarray | None = None):
    """fp32 file -> the variant's onnx.ModelProto (metadata not yet restamped).

    `calibration` (N, T, C, S, S) float32 clips make int8's Conv layers static (see above)."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        proto = folded(src, work)
        if precision == "fp16":
            from onnxruntime.transformers.float16 import convert_float_to_float16

            return convert_float_to_float16(proto, keep_io_types=True)
        if precision == "int8":
            import logging

            from onnxruntime.quantization import QuantType, quantize_dynamic

            onnx.save(proto, str(work / "in.onnx"))
            # the quantizer logs a "consider pre-processing" hint on the root logger; folded() did that
            root = logging.getLogger()
            level = root.level
            root.setLevel(logging.ERROR)
            try:
                dynamic_ops = None  # all: Conv, Gemm/MatMul and the LSTM
                if calibration is not None and len(calibration):
                    from onnxruntime.quantization import QuantFormat, quantize_static

                    quantize_static(str(work / "in.onnx"), str(work / "static.onnx"), _Calibration(calibration),
                                    quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                                    weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["Conv"])
                    os.replace(work / "static.onnx", work / "in.onnx")
                    dynamic_ops = ["LSTM", "Gemm", "MatMul"]
                # uint8 weights: onnxruntime's CPU ConvInteger takes uint8, and u8u8 measured ~5x faster
                # than s8 weights on the reference CPU
                quantize_dynamic(str(work / "in.onnx"), str(work / "out.onnx"), weight_type=QuantType.QUInt8,
                                 op_types_to_quantize=dynamic_ops)
            finally:
                root.setLevel(level)
            out = onnx.load(str(work / "out.onnx"))
            _prune_opsets(out)
            return out
    raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")


def latency_ms(session, x: np.ndarray, budget_s: float = 3.0, max_runs: int = 15) -> float:
    """Median wall time of one call after one warm-up, at least 3 runs."""
    feed = {K.INPUT_FRAMES: x}
    session.run(None, feed)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < 3 or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 3)


def predict_all(session, clips: ClipSet, t: int, batch: int = 8) -> np.ndarray:
    n = max(len(clips), 1)
    x = clips.clips(t, n if len(clips) else 32)
    return np.concatenate([session.run([K.OUTPUT_PROBS], {K.INPUT_FRAMES: x[i:i + batch]})[0]
                           for i in range(0, len(x), batch)])


def measure(fp32_path: Path, path: Path, clips: ClipSet, t: int) -> dict:
    """size, latency and agreement of the variant at `path` against the fp32 file."""
    ref, var = cpu_session(fp32_path), cpu_session(path)
    p_ref, p_var = predict_all(ref, clips, t), predict_all(var, clips, t)
    one = clips.clips(t, 1)
    size, size32 = os.path.getsize(path), os.path.getsize(fp32_path)
    return {
        "size_bytes": size,
        "size_ratio": round(size / size32, 4),
        "latency_ms": latency_ms(var, one),
        "fp32_latency_ms": latency_ms(ref, one),
        "agreement": float((p_ref.argmax(-1) == p_var.argmax(-1)).mean()),
        "clips": int(len(p_ref)),
        "clips_from": clips.origin,
        "max_abs_dprobs": float(np.abs(p_ref - p_var).max()),
        "T": t,
    }
