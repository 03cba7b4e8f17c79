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

import contextlib
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from lrcn.export.clips import ClipSet
from lrcn.export.parity import cpu_session, full_predictor
from lrcn.runtime import contract as K

PRECISIONS = ("fp16", "int8")
MIN_AGREEMENT = 0.98
SUFFIX = {"fp16": ".fp16.onnx", "int8": ".int8.onnx", "int8-dynamic": ".int8-dynamic.onnx"}
"""File suffix of each variant; int8-dynamic (every Conv quantized at run time, no calibration: what
vc-export made before static Conv) is not offered by vc-export, vc-bench compares against it."""
PRECISION_OF = {"fp16": "fp16", "int8": "int8", "int8-dynamic": "int8"}


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


class _Feeds:
    """onnxruntime's CalibrationDataReader protocol over a list of feeds: one pass."""

    def __init__(self, feeds: list[dict]):
        self._it = iter(feeds)

    def get_next(self):
        return next(self._it, None)

    def rewind(self) -> None:  # asked for by some onnxruntime versions; one pass is all there is
        pass


def clip_feeds(clips: np.ndarray) -> list[dict]:
    """(N, T, C, S, S) -> one full-model feed a clip."""
    return [{K.INPUT_FRAMES: clips[i : i + 1]} for i in range(len(clips))]


def frame_feeds(clips: np.ndarray, state: tuple[int, int] | None = None, batch: int = 8) -> list[dict]:
    """(N, T, C, S, S) -> feeds of `batch` frames for the encoder part, or for the step part when
    `state` = (lstm_layers, hidden_size) is given (zero state: the Conv layers never see it)."""
    frames = clips.reshape(-1, *clips.shape[2:])
    feeds = []
    for i in range(0, len(frames), batch):
        feed = {K.INPUT_FRAME: np.ascontiguousarray(frames[i : i + batch])}
        if state is not None:
            zeros = np.zeros((state[0], len(feed[K.INPUT_FRAME]), state[1]), np.float32)
            feed.update({K.STATE_H: zeros, K.STATE_C: zeros})
        feeds.append(feed)
    return feeds


@contextlib.contextmanager
def _quiet_quantizer():
    # the quantizer logs a "consider pre-processing" hint on the root logger; folded() did that
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _static_conv(src: Path, dst: Path, feeds: list[dict]) -> None:
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    quantize_static(
        str(src),
        str(dst),
        _Feeds(feeds),
        quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        per_channel=True,
        op_types_to_quantize=["Conv"],
    )


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
            from onnxruntime.quantization import QuantType, quantize_dynamic

            onnx.save(proto, str(work / "in.onnx"))
            with _quiet_quantizer():
                dynamic_ops = None  # all: Conv, Gemm/MatMul and the LSTM
                if calibration is not None and len(calibration):
                    _static_conv(work / "in.onnx", work / "static.onnx", clip_feeds(calibration))
                    os.replace(work / "static.onnx", work / "in.onnx")
                    dynamic_ops = ["LSTM", "Gemm", "MatMul"]
                # uint8 weights: onnxruntime's CPU ConvInteger takes uint8, and u8u8 measured ~5x faster
                # than s8 weights on the reference CPU
                quantize_dynamic(
                    str(work / "in.onnx"),
                    str(work / "out.onnx"),
                    weight_type=QuantType.QUInt8,
                    op_types_to_quantize=dynamic_ops,
                )
            out = onnx.load(str(work / "out.onnx"))
            _prune_opsets(out)
            return out
    raise ValueError(f"unknown precision {precision!r}; choose from {', '.join(PRECISIONS)}")


def int8_part(src: Path, feeds: list[dict]):
    """A streaming part (encoder or step, fp32 file) -> onnx.ModelProto with its Conv layers static
    int8 (QDQ), calibrated on `feeds` (see frame_feeds); everything else stays fp32. This is where
    a stream spends its time: one encoder pass a frame."""
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        onnx.save(folded(src, work), str(work / "in.onnx"))
        with _quiet_quantizer():
            _static_conv(work / "in.onnx", work / "out.onnx", feeds)
        out = onnx.load(str(work / "out.onnx"))
        _prune_opsets(out)
        return out


def int8_parts(parts: dict[str, Path], calibration: np.ndarray, state: tuple[int, int] | None):
    """{"encoder": fp32 file, "step": fp32 file (optional)} -> {kind: int8 onnx.ModelProto} (int8_part),
    calibrated on the frames of `calibration` (N, T, C, S, S); `state` = (lstm_layers, hidden_size)
    is needed for the step part. The head is not quantized: the variant streams with the fp32 one."""
    return {
        kind: int8_part(parts[kind], frame_feeds(calibration, state if kind == "step" else None))
        for kind in ("encoder", "step")
        if kind in parts
    }


def latency_ms(session, x: np.ndarray, budget_s: float = 3.0, max_runs: int = 15, name: str = K.INPUT_FRAMES) -> float:
    """Median wall time of one call after one warm-up, at least 3 runs."""
    feed = {name: x}
    session.run(None, feed)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < 3 or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 3)


def agreement_clips(clips: ClipSet, t: int) -> np.ndarray:
    """The (N, T, C, S, S) clips every agreement figure is measured on."""
    return clips.clips(t, len(clips) if len(clips) else 32)


def predict_all(predict, x: np.ndarray, batch: int = 8) -> np.ndarray:
    """predict: (B, T, C, S, S) -> probs, applied in batches."""
    return np.concatenate([predict(x[i : i + batch]) for i in range(0, len(x), batch)])


def _agreement(p_ref: np.ndarray, p: np.ndarray) -> float:
    return float((p_ref.argmax(-1) == p.argmax(-1)).mean())


def measure(fp32_path: Path, path: Path, clips: ClipSet, t: int, p_ref: np.ndarray | None = None) -> dict:
    """size, latency and agreement of the variant at `path` against the fp32 file
    (`p_ref`: the fp32 file's probs on agreement_clips, when already computed)."""
    ref, var = cpu_session(fp32_path), cpu_session(path)
    x = agreement_clips(clips, t)
    p_ref = predict_all(full_predictor(ref), x) if p_ref is None else p_ref
    p_var = predict_all(full_predictor(var), x)
    one = clips.clips(t, 1)
    size, size32 = os.path.getsize(path), os.path.getsize(fp32_path)
    return {
        "size_bytes": size,
        "size_ratio": round(size / size32, 4),
        "latency_ms": latency_ms(var, one),
        "fp32_latency_ms": latency_ms(ref, one),
        "agreement": _agreement(p_ref, p_var),
        "clips": int(len(p_ref)),
        "clips_from": clips.origin,
        "max_abs_dprobs": float(np.abs(p_ref - p_var).max()),
        "T": t,
    }


def measure_stream(
    p_ref: np.ndarray, parts: dict[str, Path], fp32_encoder: Path, clips: ClipSet, t: int, state: tuple[int, int] | None
) -> dict:
    """The int8 streaming parts (encoder, head, and step when `state` = (layers, hidden)) against
    the fp32 full model's probs `p_ref`: top-1 agreement of the window and of the step stream
    ("agreement" is the lower), and the encoder's cost per frame, int8 and fp32."""
    from lrcn.export.streaming import step_predictor, window_predictor

    x = agreement_clips(clips, t)
    encoder = cpu_session(parts["encoder"])
    out = {"window_agreement": _agreement(p_ref, predict_all(window_predictor(encoder, cpu_session(parts["head"])), x))}
    if state is not None and "step" in parts:
        out["step_agreement"] = _agreement(p_ref, predict_all(step_predictor(cpu_session(parts["step"]), *state), x))
    out["agreement"] = min(v for k, v in out.items() if k.endswith("_agreement"))
    frame = np.ascontiguousarray(x[:1, 0])
    out["encoder_ms"] = latency_ms(encoder, frame, name=K.INPUT_FRAME)
    out["fp32_encoder_ms"] = latency_ms(cpu_session(fp32_encoder), frame, name=K.INPUT_FRAME)
    return out
