"""f. Streams per box: how many concurrent 25 fps camera-like streams stay served.

A stream is served when, over the frames its camera released after a 1 s warm-up, at least
95% were processed (every frame is due: sample_fps 0) and the capture-to-prediction latency p95
(camera release time to prediction) is at most 200 ms. Two ways, in the same bench run:
- one process: N `PacedFrames` sources in one `MultiStream` (what `vc-run a.streams` runs),
  one model, frames of all streams batched;
- N processes: N single-stream runtime processes at once (`python -m lrcn.bench.paced`,
  `clf.stream` as `vc-run --stream` runs it; each with the bench's thread count, as N vc-run
  processes started by hand would be), started together once all have loaded.
Each way climbs a ladder of N and stops at the first N where some stream is not served (in
two tries running: one try can miss on a passing hiccup of a shared machine); the figure is the
largest N served. The second figure (`streams_mjpeg`) does the same with N
loopback MJPEG cameras served by another process, so reading and decoding JPEG are included;
there a stream's share is its processed frames over fps x seconds, and its latency is lrcn's
(from the decoded frame's arrival to the prediction). The third (`streams_rtsp`) does the same with N
H.264 640x360 cameras served over RTSP (TCP) by GStreamer's RTSP server in another process
(`lrcn.bench.rtsp`), the bench video re-encoded once: reading, depacketizing and decoding H.264
included, as real IP cameras send it. Memory: the one-process RSS at each N (per extra stream: the
slope from N = 1), and each separate process's RSS.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lrcn.bench.config import BenchConfig
from lrcn.bench.paced import (
    PacedFrames,
    current_rss_mb,
    decode_frames,
    figures,
    live_figures,
    measure_live,
)

SHARE, P95_MS, WARM_S = 0.95, 200.0, 1.0
ONE_PROCESS = (1, 2, 4, 8, 12, 16, 20, 24, 32, 40, 48, 64)
PROCESSES = (1, 2, 3, 4, 6, 8, 12, 16, 20, 24, 32)
"""The N-processes ladder; `--streams-procs-max` (default 16) caps it."""
RTSP_SIZE = (640, 360)
"""The H.264 RTSP cameras' frame size (a common IP camera substream)."""


@dataclass
class _Seen:
    source_index: int
    predicted: float


def _verdict(n: int, figs: dict[str, dict], extra: dict) -> dict:
    shares = [f["share"] for f in figs.values()]
    p95 = [f["latency_p95_ms"] for f in figs.values()]
    ok = all(s >= SHARE for s in shares) and all(p is not None and p <= P95_MS for p in p95)
    worst = max((p for p in p95 if p is not None), default=None)
    return {
        "streams": n,
        "served": ok,
        "worst_share": round(min(shares), 3),
        "worst_p95_ms": None if worst is None else round(worst, 1),
        **extra,
    }


def one_process(clf, frames, n: int, cfg: BenchConfig) -> dict:
    from lrcn.runtime import MultiStream, StreamConfig

    fps = cfg.streams_fps
    sources = {
        f"s{i}": PacedFrames(frames, fps, WARM_S + cfg.streams_seconds, phase=i / (n * fps), name=f"s{i}")
        for i in range(n)
    }
    multi = MultiStream(clf, list(sources.items()), StreamConfig(sample_fps=0))
    seen: dict[str, list] = {k: [] for k in sources}
    batches = []
    t0m, t0w = time.monotonic() + 0.1, time.time() + 0.1
    for s in sources.values():
        s.start(t0m, t0w)
    rss = None
    try:
        for tick in multi.ticks():
            if tick.predictions:
                batches.append(len(tick.predictions))
            for p in tick.predictions:
                seen[p.stream].append(_Seen(p.source_index, p.predicted))
            if rss is None and time.monotonic() > t0m + WARM_S + cfg.streams_seconds / 2:
                rss = current_rss_mb()  # mid-run: every stream's state and buffers are live
    finally:
        multi.close()
    mean_batch = sum(batches) / len(batches) if batches else 0.0
    return _verdict(
        n,
        figures(seen, sources, WARM_S),
        {"rss_mb": None if rss is None else round(rss, 1), "mean_batch": round(mean_batch, 2)},
    )


def _cameras(kind: str, source: Path, n: int, cfg: BenchConfig, seconds: float):
    """N loopback cameras in another process: MJPEG over HTTP from the video, or H.264 over RTSP from `source`."""
    if kind == "rtsp":
        from lrcn.bench.rtsp import RtspCameras

        return RtspCameras(n, [source], cfg.streams_fps, protocols="tcp").start()
    from lrcn.bench.mjpeg import Cameras

    return Cameras(n, cfg.streams_fps, seconds, str(source))


def one_process_live(clf, source: Path, n: int, cfg: BenchConfig, kind: str = "mjpeg") -> dict:
    """N loopback cameras (`kind` mjpeg or rtsp) read, decoded and classified by one MultiStream."""
    from lrcn.runtime import MultiStream, StreamConfig
    from lrcn.runtime.sources import LiveSource

    cams = _cameras(kind, source, n, cfg, WARM_S + cfg.streams_seconds + 60)
    try:
        sources = [(f"s{i}", LiveSource(u, reconnect=0)) for i, u in enumerate(cams.urls)]
        multi = MultiStream(clf, sources, StreamConfig(sample_fps=0))
        try:
            lat = measure_live(multi, WARM_S, cfg.streams_seconds)
            rss = current_rss_mb()
        finally:
            multi.close()
    finally:
        cams.close()
    figs = live_figures({name: lat.get(name, []) for name, _ in sources}, cfg.streams_fps, cfg.streams_seconds)
    return _verdict(n, figs, {"rss_mb": round(rss, 1)})


def processes(model: Path, video: Path, n: int, cfg: BenchConfig, live: str = "") -> dict:
    """N single-stream processes: on paced frames of `video`, or (`live` mjpeg or rtsp) each on its loopback camera."""
    cams = _cameras(live, video, n, cfg, WARM_S + cfg.streams_seconds + 120) if live else None
    args = [
        sys.executable,
        "-m",
        "lrcn.bench.paced",
        str(model),
        "",
        str(cfg.streams_fps),
        str(cfg.streams_seconds),
        str(WARM_S),
        str(cfg.threads),
        cfg.device,
    ]
    procs = [
        subprocess.Popen(
            [*args[:4], cams.urls[i] if cams else str(video), *args[5:]],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(n)
    ]
    try:
        for p in procs:
            line = p.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"stream worker failed: {(p.stderr.read().strip().splitlines() or ['?'])[-1]}")
        for p in procs:  # all start together: each plays its own camera from now on
            p.stdin.write("go\n")
            p.stdin.flush()
        outs = [json.loads(p.communicate(timeout=120 + cfg.streams_seconds)[0].strip().splitlines()[-1]) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        if cams:
            cams.close()
    rss = [o.pop("rss_mb") for o in outs]
    return _verdict(n, {f"p{i}": o for i, o in enumerate(outs)}, {"rss_mb_each": round(max(rss), 1)})


def _ladder(steps, fn, log, what: str) -> tuple[list[dict], int]:
    rows, best = [], 0
    for n in steps:
        r = fn(n)
        if not r["served"]:  # one try can miss on a passing hiccup of the machine: a step fails when two do
            r = {**fn(n), "retried": True}
        rows.append(r)
        log(
            f"  streams, {what}: {n} -> {'served' if r['served'] else 'not served'} (worst share "
            f"{r['worst_share']:.0%}, worst p95 {r['worst_p95_ms']} ms)"
        )
        if not r["served"]:
            break
        best = n
    return rows, best


def measure_model(model_path: Path, cfg: BenchConfig, video: Path, log, label: str) -> dict:
    from lrcn.runtime import VideoClassifier

    frames = decode_frames(video)
    clf = VideoClassifier(model_path, device=cfg.device, threads=cfg.threads)  # one model, as vc-run loads it
    one_process(clf, frames, 1, cfg)  # warm-up: sessions, parts, allocator
    steps_one = [n for n in ONE_PROCESS if n <= cfg.streams_max]
    one, best_one = _ladder(steps_one, lambda n: one_process(clf, frames, n, cfg), log, f"{label}, one process")
    steps = [n for n in PROCESSES if n <= min(cfg.streams_max, cfg.streams_procs_max)]
    sep, best_sep = _ladder(steps, lambda n: processes(model_path, video, n, cfg), log, f"{label}, N processes")
    out: dict = {}
    live = [("mjpeg", "MJPEG", video)] if cfg.streams_mjpeg else []
    if cfg.streams_rtsp:
        from lrcn.bench.rtsp import make_h264, missing

        why = missing()
        if why:
            log(f"  streams, H.264 RTSP rows skipped: {why}")
            out["rtsp_skipped"] = why
        else:
            h264 = Path(cfg.workdir) / f"streams_{RTSP_SIZE[0]}x{RTSP_SIZE[1]}.h264"
            h264.parent.mkdir(parents=True, exist_ok=True)
            make_h264(h264, video, RTSP_SIZE, round(cfg.streams_fps), seconds=4)
            live.append(("rtsp", f"H.264 RTSP {RTSP_SIZE[0]}x{RTSP_SIZE[1]}", h264))
    for kind, what, src in live:
        lo, best_lo = _ladder(
            steps_one,
            lambda n, src=src, kind=kind: one_process_live(clf, src, n, cfg, kind),
            log,
            f"{label}, {what}, one process",
        )
        lp, best_lp = _ladder(
            steps,
            lambda n, src=src, kind=kind: processes(model_path, src, n, cfg, live=kind),
            log,
            f"{label}, {what}, N processes",
        )
        out |= {
            f"{kind}_one_process": lo,
            f"{kind}_processes": lp,
            f"{kind}_served_one_process": best_lo,
            f"{kind}_served_processes": best_lp,
            f"{kind}_one_process_capped": bool(lo) and lo[-1]["served"],
            f"{kind}_processes_capped": bool(lp) and lp[-1]["served"],
        }
    served = [r for r in one if r["served"] and r["rss_mb"] is not None]
    per_extra = None
    if len(served) >= 2 and served[-1]["streams"] > served[0]["streams"]:
        per_extra = round(
            (served[-1]["rss_mb"] - served[0]["rss_mb"]) / (served[-1]["streams"] - served[0]["streams"]), 2
        )
    # a ladder that served its last step stopped at the cap: its figure is a lower bound
    return {
        "one_process": one,
        "processes": sep,
        "served_one_process": best_one,
        "served_processes": best_sep,
        "one_process_capped": bool(one) and one[-1]["served"],
        "processes_capped": bool(sep) and sep[-1]["served"],
        "mb_per_extra_stream": per_extra,
        **out,
    }


def measure(subject, cfg: BenchConfig, video: Path, log=print) -> dict:
    log(
        f"  streams: {cfg.streams_fps:g} fps paced sources, {cfg.streams_seconds:g} s each after {WARM_S:g} s "
        f"warm-up; served = due frames >= {SHARE:.0%} processed and latency p95 <= {P95_MS:g} ms"
    )
    out = {
        "fps": cfg.streams_fps,
        "seconds": cfg.streams_seconds,
        "warm_s": WARM_S,
        "share": SHARE,
        "p95_ms": P95_MS,
        "source": f"{video.name}, pre-decoded, released in-process",
        "variants": {},
    }
    out["variants"]["fp32"] = measure_model(subject.files["full"], cfg, video, log, "fp32")
    if "int8_encoder" in subject.files:
        out["variants"]["int8"] = measure_model(subject.files["int8"], cfg, video, log, "int8")
    return out
