"""Static int8 (QDQ) of an encoder part's Conv layers: what streaming with int8 would gain.

vc-export's int8 variant is a full model (its Conv layers static since vc-bench's profile, see
lrcn.export.variants); the runtime streams with the fp32 parts. This makes the encoder part
the same way, so the bench can measure the int8 sliding window. The Linear stays fp32.
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


def encoder_feeds(clips: np.ndarray) -> list[dict]:
    frames = clips[:CALIBRATION_CLIPS].reshape(-1, *clips.shape[2:])
    return [{K.INPUT_FRAME: np.ascontiguousarray(frames[i:i + 8])} for i in range(0, len(frames), 8)]
