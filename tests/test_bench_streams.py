"""vc-bench streams: the served criterion, one process against separate processes, the table."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from helpers import fake_model

from lrcn.bench.config import BenchConfig
from lrcn.bench.rtsp import missing
from lrcn.bench.streams import measure_model
from lrcn.bench.table import _streams


@pytest.mark.slow  # paced 25 fps streams in real time, in this process and in others: seconds of wall clock
def test_streams_ladder_on_a_tiny_model_and_its_table(tmp_path):
    model = fake_model(tmp_path / "m")
    video = tmp_path / "src.avi"
    wr = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 48))
    for i in range(30):
        wr.write(np.full((48, 64, 3), 8 * i, np.uint8))
    wr.release()
    cfg = BenchConfig(
        models=["convlstm"],
        threads=1,
        streams_seconds=1.0,
        streams_max=2,
        streams_procs_max=1,
        workdir=str(tmp_path / "work"),
    )
    v = measure_model(model, cfg, video, log=lambda s: None, label="fp32")
    one, sep = v["one_process"], v["processes"]
    assert [r["streams"] for r in one][:1] == [1] and [r["streams"] for r in sep] == [1]
    for r in one + sep:  # 25 fps for 1 s after the warm-up: each stream had 25 frames due
        assert 0 <= r["worst_share"] <= 1 and (r["worst_p95_ms"] is None or r["worst_p95_ms"] > 0)
        assert r["served"] == (r["worst_share"] >= 0.95 and r["worst_p95_ms"] is not None and r["worst_p95_ms"] <= 200)
    assert all(r["rss_mb"] > 10 and r["mean_batch"] >= 1 for r in one) and sep[0]["rss_mb_each"] > 10
    assert v["served_one_process"] == max([0] + [r["streams"] for r in one if r["served"]])
    mj = v["mjpeg_one_process"] + v["mjpeg_processes"]  # loopback MJPEG cameras, decoded by lrcn
    assert [r["streams"] for r in v["mjpeg_processes"]] == [1] and all(0 <= r["worst_share"] <= 1 for r in mj)
    assert any(r["worst_p95_ms"] is not None for r in mj)
    if missing():  # no GStreamer RTSP server here: said, not silently empty
        assert v["rtsp_skipped"] == missing() and "rtsp_one_process" not in v
    else:  # loopback H.264 640x360 RTSP cameras, depacketized and decoded by lrcn
        rt = v["rtsp_one_process"] + v["rtsp_processes"]
        assert [r["streams"] for r in v["rtsp_processes"]] == [1] and all(0 <= r["worst_share"] <= 1 for r in rt)
        assert any(r["worst_p95_ms"] is not None for r in rt)
    doc = {
        "models": {
            "convlstm": {
                "streams": {
                    "share": 0.95,
                    "p95_ms": 200.0,
                    "seconds": 1.0,
                    "warm_s": 1.0,
                    "fps": 25.0,
                    "source": "src.avi",
                    "variants": {"fp32": v},
                }
            }
        }
    }
    md = "\n".join(_streams(doc))
    assert "| convlstm | fp32 | paced in-process |" in md and "| convlstm | fp32 | loopback MJPEG, decoded |" in md
    assert "in-process, one process: 1:" in md and "decoded, N processes: 1:" in md
    assert ("| convlstm | fp32 | loopback H.264 RTSP 640x360, decoded |" in md) == (not missing())
