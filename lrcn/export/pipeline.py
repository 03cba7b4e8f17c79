"""export_run: one checkpoint -> gated ONNX files, the parity report and optional edge variants.

Every file is written to a temporary name in the target folder, checked there, and only then
moved into place (os.replace), so a failed gate leaves no model at the target path. The full
model moves last: a reader that finds M.onnx finds its streaming parts beside it.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from lrcn.export.clips import load_clips
from lrcn.export.graphs import DEFAULT_OPSET, STEP_ABSENT, export_graph, graph_specs
from lrcn.export.metadata import build_metadata, load_metrics, now_utc, sha256_file, stamp, strip_node_metadata
from lrcn.export.parity import (BATCHES, TOLERANCE, ParityError, check_file, clip_lengths, cpu_session,
                                full_predictor, require, run_rows, summarize)
from lrcn.export.sources import MODELS_DIR, ExportError, ExportSource, resolve_sources
from lrcn.export.streaming import step_predictor, window_predictor
from lrcn.export.variants import MIN_AGREEMENT, PRECISIONS, SUFFIX, make_variant, measure
from lrcn.runtime.contract import PART_SUFFIX
from lrcn.runtime.preprocess import PreprocessSpec

AGREEMENT_CLIPS = 200
REPORT_VERSION = 1


@dataclass
class ExportResult:
    family: str
    model: Path
    parts: dict[str, Path]
    parity: Path
    report: dict
    summary: str
    variants: dict[str, Path] = field(default_factory=dict)
    refused: dict[str, dict] = field(default_factory=dict)
    """precision -> its figures, for variants below MIN_AGREEMENT (not written)."""


def model_path(out: str | Path | None, family: str, many: bool = False) -> Path:
    """artifacts/models/<family>.onnx; --out FILE.onnx for one model, --out DIR otherwise."""
    if out is None:
        return MODELS_DIR / f"{family}.onnx"
    out = Path(out)
    return out if out.suffix == ".onnx" and not many else out / f"{family}.onnx"


def sibling(path: Path, suffix: str) -> Path:
    """M.onnx + ".encoder.onnx" -> M.encoder.onnx (contract file names)."""
    return path.with_name(path.name[: -len(".onnx")] + suffix)


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _write_json(path: Path, obj: dict) -> None:
    tmp = _tmp(path)
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def _session(kind: str, path: Path):
    try:
        return cpu_session(path)
    except Exception as e:  # noqa: BLE001 - onnxruntime refuses the graph
        raise ParityError(f"{kind} graph: onnxruntime cannot load it ({str(e).strip().splitlines()[0][:200]})") from None


def export_run(source: ExportSource | str | Path, out: str | Path | None = None, *, family: str | None = None,
               opset: int = DEFAULT_OPSET, precisions: Sequence[str] = (), stream: bool = True,
               tolerance: float = TOLERANCE, log: Callable[[str], None] = lambda s: None) -> ExportResult:
    """Export a run folder or checkpoint (`source`) to `out` (default artifacts/models/<family>.onnx).

    Raises ExportError (one line) when nothing can be exported or the parity gate fails; the
    parity JSON is written either way. A variant below MIN_AGREEMENT is refused, not raised:
    see ExportResult.refused.
    """
    import onnx

    from lrcn.train.checkpoint import model_from_checkpoint

    if not isinstance(source, ExportSource):
        p = Path(source)
        source = resolve_sources(family, run=p if p.is_dir() else None, checkpoint=None if p.is_dir() else p)[0]
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad:
        raise ValueError(f"unknown precision {bad[0]!r}; choose from {', '.join(PRECISIONS)}")
    t_start = time.perf_counter()
    model, ckpt = model_from_checkpoint(source.checkpoint, family=family or source.family)
    config = ckpt["config"]
    fam = config["model"]["name"]
    target = model_path(out, fam)
    target.parent.mkdir(parents=True, exist_ok=True)
    specs = graph_specs(model, stream=stream)
    paths = {s.kind: target if s.kind == "full" else sibling(target, PART_SUFFIX[s.kind]) for s in specs}
    parts = {k: p.name for k, p in paths.items() if k != "full"}
    run_dir = source.run_dir
    common = dict(parts=parts, metrics=load_metrics(run_dir) or {"best_epoch": ckpt.get("epoch")},
                  checkpoint_sha256=sha256_file(source.checkpoint), exported=now_utc())
    extra = {"opset": opset, "full": target.name, **({"step_absent": STEP_ABSENT} if "step" not in paths else {})}
    spec = PreprocessSpec.from_dict(config["preprocess"])
    num_frames = int(config["preprocess"]["num_frames"])
    lengths = clip_lengths(num_frames)
    clips = load_clips(run_dir, spec, splits=("val", "test", "train"), limit=max(BATCHES))
    report: dict = {
        "report_version": REPORT_VERSION, "passed": False, "error": None, "family": fam, "model": target.name,
        "checkpoint": str(source.checkpoint), "checkpoint_sha256": common["checkpoint_sha256"], "opset": opset,
        "tolerance": tolerance, "lengths": lengths, "batches": list(BATCHES),
        "input": {"source": clips.origin, "videos": clips.paths}, "files": {}, "exported": common["exported"],
    }
    if "step" not in paths and stream:
        report["step"] = {"absent": STEP_ABSENT}
    tmps = {k: _tmp(p) for k, p in paths.items()}
    try:
        for s in specs:
            log(f"exporting {fam} {s.kind} graph (opset {opset})")
            try:
                proto = export_graph(s, opset)
            except Exception as e:  # noqa: BLE001 - any exporter failure becomes one line
                raise ExportError(f"{s.kind} graph: torch.onnx.export failed "
                                  f"({type(e).__name__}: {str(e).strip().splitlines()[0][:200]})") from None
            strip_node_metadata(proto)
            stamp(proto, build_metadata(config, kind=s.kind, extra=extra, **common))
            onnx.save(proto, str(tmps[s.kind]))
        t_gate = time.perf_counter()
        for s in specs:
            dims = check_file(tmps[s.kind], s)
            report["files"][s.kind] = {"path": paths[s.kind].name, "size_bytes": tmps[s.kind].stat().st_size,
                                       "dims": dims}
        sessions = {k: _session(k, p) for k, p in tmps.items()}
        report["full"] = summarize(run_rows("full model", full_predictor(sessions["full"]), model, clips, lengths,
                                            tolerance))
        require("full model", report["full"], tolerance)
        if stream:
            report["window"] = summarize(run_rows("encoder + head window", window_predictor(
                sessions["encoder"], sessions["head"]), model, clips, lengths, tolerance))
            require("encoder + head window", report["window"], tolerance)
            if "step" in sessions:
                predict = step_predictor(sessions["step"], model.cfg.lstm_layers, model.cfg.hidden_size)
                report["step"] = summarize(run_rows("step model", predict, model, clips, lengths, tolerance))
                require("step model", report["step"], tolerance)
        report["gate_seconds"] = round(time.perf_counter() - t_gate, 2)
        for kind in sorted(paths, key=lambda k: k == "full"):  # the full model last
            os.replace(tmps[kind], paths[kind])
        report["passed"] = True
    except ExportError as e:
        report["error"] = str(e)
        _write_json(sibling(target, ".parity.json"), report)
        raise
    finally:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)
    result = ExportResult(fam, target, {k: p for k, p in paths.items() if k != "full"},
                          sibling(target, ".parity.json"), report, summary_line(report, target))
    if precisions:
        _variants(result, precisions, config, common, extra, run_dir, spec, num_frames, log)
    report["seconds"] = round(time.perf_counter() - t_start, 2)
    _write_json(result.parity, report)
    return result


def _variants(result: ExportResult, precisions, config, common, extra, run_dir, spec, t, log) -> None:
    """Write each accepted edge variant beside the fp32 model and record every variant's figures."""
    import onnx

    clips = load_clips(run_dir, spec, splits=("val",), limit=AGREEMENT_CLIPS)
    if not len(clips):
        clips = load_clips(run_dir, spec, splits=("test", "train"), limit=AGREEMENT_CLIPS)
    result.report["variants"] = {}
    for precision in dict.fromkeys(precisions):
        path = sibling(result.model, SUFFIX[precision])
        tmp = _tmp(path)
        log(f"making the {precision} variant of {result.model.name}")
        try:
            proto = make_variant(precision, result.model)
            strip_node_metadata(proto, keys=None)  # on the edge every byte counts
            meta_common = {**common, "parts": {}}  # the streaming parts stay fp32; a variant is a full model
            stamp(proto, build_metadata(config, kind="full", precision=precision,
                                        extra={**extra, "variant_of": result.model.name}, **meta_common))
            onnx.save(proto, str(tmp))
            figures = measure(result.model, tmp, clips, t)
            figures["accepted"] = figures["agreement"] >= MIN_AGREEMENT
            if figures["accepted"]:
                os.replace(tmp, path)
                result.variants[precision] = path
                figures["path"] = path.name
            else:
                result.refused[precision] = figures
            result.report["variants"][precision] = figures
        finally:
            tmp.unlink(missing_ok=True)


def summary_line(report: dict, target: Path) -> str:
    parts = [f"full {report['full']['max_abs_dprobs']:.1e}"]
    if "window" in report:
        parts.append(f"window {report['window']['max_abs_dprobs']:.1e}")
    step = report.get("step")
    if step and "absent" not in step:
        parts.append(f"step {step['max_abs_dprobs']:.1e}")
    elif step:
        parts.append("no step model (bidirectional)")
    src = report["input"]["source"]
    return (f"parity ok {report['family']}: max |Δprobs| {', '.join(parts)} (tol {report['tolerance']:g}; "
            f"T={','.join(map(str, report['lengths']))} x batch {','.join(map(str, report['batches']))}; "
            f"{'synthetic input' if src == 'synthetic' else src + ' clips'}); checker ok; batch, time symbolic "
            f"-> {target}")
