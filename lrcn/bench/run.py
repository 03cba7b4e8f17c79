"""One bench: every model, every section asked for, one JSON document with the machine facts.

The JSON is rewritten (atomically) after each model, so an interrupted bench keeps what it
measured. A section that fails is recorded with its one-line error and the bench goes on.
"""

from __future__ import annotations

import time
from pathlib import Path

from lrcn.bench.config import BenchConfig
from lrcn.bench.labels import BENCH_VERSION
from lrcn.core import atomic
from lrcn.models.specs import family_names, family_spec


def _frozen_only() -> str:
    frozen = [n for n in family_names() if family_spec(n).frozen_backbone]
    return f"no frozen backbone: the feature cache applies to the {', '.join(frozen)} family only"


def write_json(path: str | Path, obj: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic.write_json(path, obj)


def _section(entry: dict, name: str, cfg: BenchConfig, fn, log) -> None:
    if name not in cfg.sections:
        return
    from lrcn.core.errors import LrcnError

    t0 = time.perf_counter()
    try:
        entry[name] = fn()
    except (LrcnError, RuntimeError, OSError, ValueError) as e:
        entry[name] = {"error": str(e).strip().splitlines()[0][:300]}
        log(f"  {name}: failed: {entry[name]['error']}")
    entry[name]["section_seconds"] = round(time.perf_counter() - t0, 1)


def _model(family: str, cfg: BenchConfig, log) -> dict:
    from lrcn.bench import clip, data, e2e, memory, profile, streaming, streams, training
    from lrcn.bench.subjects import prepare
    from lrcn.runtime.video import decode_video

    subject = prepare(family, cfg, log)
    clips, origin = data.real_clips(subject.spec, subject.num_frames, cfg, cfg.batch)
    entry: dict = {"subject": subject.describe()}
    if subject.random_weights:
        note = "random weights (seed 0; no --run given): timings do not depend on them" + (
            f"; the {subject.config['model']['backbone']} backbone too (no ImageNet weights offline)"
            if family_spec(subject.family).has_backbone
            else ""
        )
    else:
        note = f"trained weights from {cfg.run}"
    entry["subject"]["note"] = note
    log(
        f"{subject.family}: T={subject.num_frames}, {subject.spec.img_size} px, {note}"
        + ("" if subject.export_seconds is None else f"; exported in {subject.export_seconds:g} s")
    )
    source = data.source_video(cfg)
    frames = decode_video(source, subject.spec.img_size, region=subject.spec.region).frames
    _section(entry, "clip", cfg, lambda: clip.measure(subject, cfg, clips, origin, log), log)
    _section(entry, "stream", cfg, lambda: streaming.measure(subject, cfg, frames, log), log)
    _section(entry, "e2e", cfg, lambda: e2e.measure(subject, cfg, source, log), log)
    _section(entry, "memory", cfg, lambda: memory.measure(subject, cfg, source, log), log)
    _section(entry, "profile", cfg, lambda: profile.measure(subject, cfg, log), log)
    _section(entry, "streams", cfg, lambda: streams.measure(subject, cfg, source, log), log)
    if family_spec(subject.family).frozen_backbone:
        _section(entry, "train", cfg, lambda: training.measure(subject, cfg, data.synthetic_set(cfg), log), log)
    elif "train" in cfg.sections:
        entry["train"] = {"skipped": _frozen_only()}
    return entry


def run_bench(cfg: BenchConfig, out: str | Path | None = None, log=print) -> dict:
    """Measure every model of cfg; returns the results document (also written to `out`)."""
    import torch

    from lrcn.bench.machine import load_average, machine_info

    if cfg.device == "cuda" and not torch.cuda.is_available():
        from lrcn.core.errors import LrcnError

        raise LrcnError("--device cuda: PyTorch sees no CUDA device here; use --device cpu")
    torch.set_num_threads(cfg.threads)
    Path(cfg.workdir).mkdir(parents=True, exist_ok=True)
    doc = {
        "bench_version": BENCH_VERSION,
        "config": cfg.to_dict(),
        "machine": machine_info(cfg.device),
        "threads": {"torch": torch.get_num_threads(), "onnxruntime_intra_op": cfg.threads},
        "isolation": "one process; onnxruntime thread spinning off for every side-by-side comparison "
        "(session.intra_op/inter_op.allow_spinning = 0); end to end runs as vc-run does "
        "(spinning on, but off for the window's encoder and head parts); memory in separate processes",
        "models": {},
    }
    t0 = time.perf_counter()
    if "flow" in cfg.sections:  # model-independent: once per bench
        from lrcn.bench import data, flow

        _section(doc, "flow", cfg, lambda: flow.measure(cfg, data.source_video(cfg), log), log)
    families = [] if set(cfg.sections) == {"flow"} else [None] if cfg.run else cfg.models
    for family in families:
        entry = _model(family, cfg, log)
        doc["models"][entry["subject"]["family"]] = entry
        doc["machine"]["load_average_end"] = load_average()
        doc["seconds"] = round(time.perf_counter() - t0, 1)
        if out:
            write_json(out, doc)
    doc["machine"]["load_average_end"] = load_average()
    doc["seconds"] = round(time.perf_counter() - t0, 1)
    if out:
        write_json(out, doc)
    return doc
