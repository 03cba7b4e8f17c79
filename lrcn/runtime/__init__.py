"""Torch-free runtime: video reading, preprocessing, and onnxruntime inference (`VideoClassifier`).

Imports numpy, OpenCV and onnxruntime only; a test blocks torch and imports this package.
"""

import os

# OpenCV's FFmpeg backend prints decoder noise (e.g. "Failed to get pixel format") to stderr
# for files it then refuses, and OpenCV logs its own "[ERROR] ... Failed to initialize
# VideoCapture" for them (the fuzz test found both); our own one-line errors say what matters.
# A user's value wins.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")

from lrcn.core.errors import LrcnError, ModelError, SourceError, VideoError
from lrcn.runtime.classifier import Prediction, VideoClassifier
from lrcn.runtime.events import Event, EventConfig, EventDetector
from lrcn.runtime.preprocess import MODALITIES, PreprocessSpec, prepare_clip
from lrcn.runtime.run_events import EventRouter, EventStream
from lrcn.runtime.scheduler import MultiStream, StreamEnd, StreamHandle, Tick
from lrcn.runtime.sinks import SinkSummary, display_url, open_sink, open_sinks
from lrcn.runtime.sources import check_source
from lrcn.runtime.stream import PREDICTION_KEYS, StreamConfig, StreamPrediction, prediction_record
from lrcn.runtime.video import VIDEO_EXTENSIONS, VideoClip, read_clip, sample_indices

__all__ = [
    "VideoClassifier",
    "Prediction",
    "StreamConfig",
    "StreamPrediction",
    "prediction_record",
    "PREDICTION_KEYS",
    "MultiStream",
    "StreamHandle",
    "StreamEnd",
    "Tick",
    "Event",
    "EventConfig",
    "EventDetector",
    "EventRouter",
    "EventStream",
    "SinkSummary",
    "open_sink",
    "open_sinks",
    "display_url",
    "check_source",
    "LrcnError",
    "ModelError",
    "SourceError",
    "VideoError",
    "MODALITIES",
    "PreprocessSpec",
    "prepare_clip",
    "VIDEO_EXTENSIONS",
    "VideoClip",
    "read_clip",
    "sample_indices",
]
