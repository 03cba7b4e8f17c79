"""Static int8 (QDQ) of the Conv layers, calibrated on real clips: the improvement the bench measures.

vc-export's int8 variant is dynamic: weights are int8 but every Conv becomes ConvInteger,
whose activations are quantized at run time and which onnxruntime's CPU kernels run barely
faster than fp32 (see benchmarks/README.md). Static quantization fixes the activation scales
from calibration data, so each Conv runs as an int8 QLinearConv (VNNI where the CPU has it).
Only Conv is quantized: the LSTM and Linear layers stay fp32, which keeps the head exact.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from lrcn.runtime import contract as K

CALIBRATION_CLIPS = 4


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over a list of feeds."""

    def __init__(self, feeds: list[dict]):
        self._it = iter(feeds)

    def get_next(self):
        return next(self._it, None)

    def rewind(self) -> None:  # called by some onnxruntime versions; one pass is all we give
        pass


def quantize_conv_static(src: Path, feeds: list[dict]):
    """src (fp32 ONNX) -> an onnx.ModelProto with every Conv as int8 QDQ (per-channel weights,
    uint8 activations); its metadata is left for the caller to stamp."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from lrcn.export.variants import folded

    reader = type("Reader", (_Reader, CalibrationDataReader), {})(feeds)
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer's pre-processing hint: folded() did that
    try:
        with tempfile.TemporaryDirectory() as tmp:
            onnx.save(folded(src, Path(tmp)), f"{tmp}/in.onnx")
            quantize_static(f"{tmp}/in.onnx", f"{tmp}/out.onnx", reader, quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                            op_types_to_quantize=["Conv"])
            proto = onnx.load(f"{tmp}/out.onnx")
    finally:
        root.setLevel(level)
    return proto


def full_feeds(clips: np.ndarray) -> list[dict]:
    return [{K.INPUT_FRAMES: clips[i:i + 1]} for i in range(min(len(clips), CALIBRATION_CLIPS))]


def encoder_feeds(clips: np.ndarray) -> list[dict]:
    frames = clips[:CALIBRATION_CLIPS].reshape(-1, *clips.shape[2:])
    return [{K.INPUT_FRAME: np.ascontiguousarray(frames[i:i + 8])} for i in range(0, len(frames), 8)]
