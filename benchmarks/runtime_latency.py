"""Runtime latency of an exported model: clip mode per video, stream mode per frame.

    .venv/bin/python benchmarks/runtime_latency.py artifacts/models/convlstm.onnx VIDEO [--device cpu] [--threads N]

Prints the providers in use, clip mode's decode / preprocess / inference milliseconds
(median of --repeat runs, after one warm-up), and stream mode's per-frame milliseconds and
processed fps with the window (encoder + head) and with the step model (--stateful).
Torch-free, like the runtime it measures.
"""

from __future__ import annotations

import argparse
import statistics
import time

from lrcn.runtime import VideoClassifier


def clip_mode(clf: VideoClassifier, video: str, repeat: int) -> dict[str, float]:
    clf.predict(video)
    runs = [clf.predict(video).timings for _ in range(repeat)]
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def stream_mode(clf: VideoClassifier, video: str, stateful: bool) -> tuple[float, float, int]:
    """(median ms per processed frame, processed fps over the whole file, predictions)."""
    list(clf.stream(video, sample_fps=0, stateful=stateful, max_frames=clf.meta.num_frames + 2))  # warm-up
    t0 = time.perf_counter()
    preds = list(clf.stream(video, sample_fps=0, stateful=stateful))
    seconds = time.perf_counter() - t0
    ready = [p.ms for p in preds if p.ready]
    return statistics.median(ready), len(preds) / seconds, len(ready)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("video")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    clf = VideoClassifier(args.model, device=args.device, threads=args.threads)
    m = clf.meta
    print(f"model {args.model}: {m.family}, T={m.num_frames}, {m.preprocess.img_size}px, {m.preprocess.modality}")
    print(f"providers {', '.join(clf.providers)}" + (f"  ({clf.device_note})" if clf.device_note else ""))
    c = clip_mode(clf, args.video, args.repeat)
    print(
        f"clip   decode {c['decode']:.1f} ms  preprocess {c['preprocess']:.2f} ms  "
        f"infer {c['infer']:.2f} ms  total {c['total']:.1f} ms"
    )
    for stateful in (False, True) if "step" in m.parts else (False,):
        ms, fps, n = stream_mode(clf, args.video, stateful)
        what = "step  " if stateful else "window"
        print(
            f"stream {what} {ms:.2f} ms/frame (preprocess + inference), {fps:.0f} frames/s with decoding, "
            f"{n} predictions"
        )


if __name__ == "__main__":
    main()
