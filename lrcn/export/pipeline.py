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

from lrcn.core.atomic import new_temp, write_json
from lrcn.export.clips import load_clips
from lrcn.export.graphs import DEFAULT_OPSET, STEP_ABSENT, export_graph, graph_specs
from lrcn.export.metadata import build_metadata, load_metrics, now_utc, sha256_file, stamp, strip_node_metadata
from lrcn.export.parity import (BATCHES, TOLERANCE, ParityError, check_file, clip_lengths, cpu_session,
                                full_predictor, require, run_rows, summarize)
from lrcn.export.sources import MODELS_DIR, ExportError, ExportSource, resolve_sources
from lrcn.export.streaming import step_predictor, window_predictor
from lrcn.export.variants import (MIN_AGREEMENT, PRECISIONS, SUFFIX, agreement_clips, int8_parts, make_variant,
                                  measure, measure_stream, predict_all)
from lrcn.models.checkpoint import model_from_checkpoint
from lrcn.runtime.contract import PART_SUFFIX
from lrcn.runtime.preprocess import PreprocessSpec

AGREEMENT_CLIPS = 200
CALIBRATION_CLIPS = 8
"""int8's static Conv scales come from this many training clips (the agreement clips when there are none)."""
REPORT_VERSION = 1
INT8_PART_SUFFIX = {"encoder": ".int8.encoder.onnx", "step": ".int8.step.onnx"}
"""int8 streaming parts: the encoder (and step) with static int8 Conv layers; the head stays fp32."""


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


def model_path(out: str | Path | None, family: str) -> Path:
    """artifacts/models/<family>.onnx; `out` is FILE.onnx or a folder."""
    if out is None:
        return MODELS_DIR / f"{family}.onnx"
    out = Path(out)
    return out if out.suffix == ".onnx" else out / f"{family}.onnx"


def sibling(path: Path, suffix: str) -> Path:
    """M.onnx + ".encoder.onnx" -> M.encoder.onnx (contract file names)."""
    return path.with_name(path.name[: -len(".onnx")] + suffix)


def _session(kind: str, path: Path):
    try:
        return cpu_session(path)
    except Exception as e:  # noqa: BLE001 - onnxruntime refuses the graph
        raise ParityError(f"{kind} graph: onnxruntime cannot load it ({str(e).strip().splitlines()[0][:200]})") from None


@dataclass
class _Job:
    """Everything one export needs, decided before any graph is written."""

    model: object
    config: dict
    family: str
    target: Path
    specs: list
    paths: dict[str, Path]
    """kind -> final path (full model and streaming parts)."""
    common: dict
    """metadata fields shared by every file of this export."""
    extra: dict
    spec: PreprocessSpec
    num_frames: int
    run_dir: Path | None


def _job(source: ExportSource, out, family: str | None, opset: int, stream: bool) -> _Job:
    model, ckpt = model_from_checkpoint(source.checkpoint, family=family or source.family)
    config = ckpt["config"]
    fam = config["model"]["name"]
    target = model_path(out, fam)
    specs = graph_specs(model, stream=stream)
    paths = {s.kind: target if s.kind == "full" else sibling(target, PART_SUFFIX[s.kind]) for s in specs}
    common = dict(parts={k: p.name for k, p in paths.items() if k != "full"},
                  metrics=load_metrics(source.run_dir) or {"best_epoch": ckpt.get("epoch")},
                  checkpoint_sha256=sha256_file(source.checkpoint), exported=now_utc())
    extra = {"opset": opset, "full": target.name,
             **({"step_absent": STEP_ABSENT} if stream and "step" not in paths else {})}
    return _Job(model, config, fam, target, specs, paths, common, extra,
                PreprocessSpec.from_dict(config["preprocess"]), int(config["preprocess"]["num_frames"]),
                source.run_dir)


def _write_graphs(job: _Job, tmps: dict[str, Path], opset: int, log) -> None:
    import onnx

    for s in job.specs:
        log(f"exporting {job.family} {s.kind} graph (opset {opset})")
        try:
            proto = export_graph(s, opset)
        except Exception as e:  # noqa: BLE001 - any exporter failure becomes one line
            raise ExportError(f"{s.kind} graph: torch.onnx.export failed "
                              f"({type(e).__name__}: {str(e).strip().splitlines()[0][:200]})") from None
        strip_node_metadata(proto)
        stamp(proto, build_metadata(job.config, kind=s.kind, extra=job.extra, **job.common))
        onnx.save(proto, str(tmps[s.kind]))


def _gate(job: _Job, tmps: dict[str, Path], report: dict, tolerance: float) -> None:
    """Checker and symbolic dims on every file, then onnxruntime against PyTorch; raises ParityError."""
    for s in job.specs:
        report["files"][s.kind] = {"path": job.paths[s.kind].name, "size_bytes": tmps[s.kind].stat().st_size,
                                   "dims": check_file(tmps[s.kind], s)}
    sessions = {k: _session(k, p) for k, p in tmps.items()}
    clips = load_clips(job.run_dir, job.spec, splits=("val", "test", "train"), limit=max(BATCHES))
    report["input"] = {"source": clips.origin, "videos": clips.paths}
    lengths = report["lengths"]
    checks = [("full", "full model", full_predictor(sessions["full"]))]
    if "encoder" in sessions:
        checks.append(("window", "encoder + head window", window_predictor(sessions["encoder"], sessions["head"])))
    if "step" in sessions:
        cfg = job.model.cfg
        checks.append(("step", "step model", step_predictor(sessions["step"], cfg.lstm_layers, cfg.hidden_size)))
    for key, name, predict in checks:
        report[key] = summarize(run_rows(name, predict, job.model, clips, lengths, tolerance))
        require(name, report[key], tolerance)


def _outputs_of(target: Path) -> list[Path]:
    """Every file an export to `target` may write (model, parts, variants, report)."""
    suffixes = [".onnx", *PART_SUFFIX.values(), *SUFFIX.values(), *INT8_PART_SUFFIX.values(), ".parity.json"]
    return [sibling(target, suf) for suf in suffixes]


def export_run(source: ExportSource | str | Path, out: str | Path | None = None, *, family: str | None = None,
               opset: int = DEFAULT_OPSET, precisions: Sequence[str] = (), stream: bool = True,
               tolerance: float = TOLERANCE, log: Callable[[str], None] = lambda s: None) -> ExportResult:
    """Export a run folder or checkpoint (`source`) to `out` (default artifacts/models/<family>.onnx).

    Raises ExportError (one line) when nothing can be exported or the parity gate fails; the
    parity JSON is written either way. A variant below MIN_AGREEMENT is refused, not raised:
    see ExportResult.refused. Files an earlier export left at the target (an older model, parts
    or variants this export does not replace) are removed: they belong to another checkpoint.
    """
    if not isinstance(source, ExportSource):
        p = Path(source)
        source = resolve_sources(family, run=p if p.is_dir() else None, checkpoint=None if p.is_dir() else p)[0]
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad:
        raise ValueError(f"unknown precision {bad[0]!r}; choose from {', '.join(PRECISIONS)}")
    t_start = time.perf_counter()
    job = _job(source, out, family, opset, stream)
    job.target.parent.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "report_version": REPORT_VERSION, "passed": False, "error": None, "family": job.family,
        "model": job.target.name, "checkpoint": str(source.checkpoint),
        "checkpoint_sha256": job.common["checkpoint_sha256"], "opset": opset, "tolerance": tolerance,
        "lengths": clip_lengths(job.num_frames), "batches": list(BATCHES), "files": {},
        "exported": job.common["exported"],
        **({"step": {"absent": STEP_ABSENT}} if "step_absent" in job.extra else {}),
    }
    tmps = {k: new_temp(p) for k, p in job.paths.items()}
    try:
        _write_graphs(job, tmps, opset, log)
        t_gate = time.perf_counter()
        _gate(job, tmps, report, tolerance)
        report["gate_seconds"] = round(time.perf_counter() - t_gate, 2)
        for stale in _outputs_of(job.target):
            if stale.exists() and stale not in job.paths.values() and stale.suffix == ".onnx":
                log(f"removing {stale.name} from an earlier export")
                stale.unlink()
        for kind in sorted(job.paths, key=lambda k: k == "full"):  # the full model last
            os.replace(tmps[kind], job.paths[kind])
        report["passed"] = True
    except ExportError as e:
        report["error"] = str(e)
        for old in _outputs_of(job.target):  # no model at the target path after a failed gate
            old.unlink(missing_ok=True)
        write_json(sibling(job.target, ".parity.json"), report)
        raise
    finally:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)
    result = ExportResult(job.family, job.target, {k: p for k, p in job.paths.items() if k != "full"},
                          sibling(job.target, ".parity.json"), report, summary_line(report, job.target))
    if precisions:
        _variants(result, precisions, job, log)
    report["seconds"] = round(time.perf_counter() - t_start, 2)
    write_json(result.parity, report)
    return result


def _variants(result: ExportResult, precisions: Sequence[str], job: _Job, log) -> None:
    """Write each accepted edge variant beside the fp32 model and record every variant's figures."""
    clips = load_clips(job.run_dir, job.spec, splits=("val",), limit=AGREEMENT_CLIPS)
    if not len(clips):
        clips = load_clips(job.run_dir, job.spec, splits=("test", "train"), limit=AGREEMENT_CLIPS)
    calibration, calibrated_on = None, None
    if "int8" in precisions:
        calib = load_clips(job.run_dir, job.spec, splits=("train",), limit=CALIBRATION_CLIPS)
        calib = calib if len(calib) else clips
        calibration, calibrated_on = calib.clips(job.num_frames, CALIBRATION_CLIPS), calib.origin
    p_ref = predict_all(full_predictor(cpu_session(result.model)), agreement_clips(clips, job.num_frames))
    result.report["variants"] = {}
    for precision in dict.fromkeys(precisions):
        path = sibling(result.model, SUFFIX[precision])
        tmp = new_temp(path)
        part_tmps: dict[str, Path] = {}
        log(f"making the {precision} variant of {result.model.name}")
        try:
            stream = None
            if precision == "int8" and "encoder" in result.parts:
                part_tmps = {k: new_temp(sibling(result.model, suf)) for k, suf in INT8_PART_SUFFIX.items()
                             if k in result.parts}
                stream = _int8_parts(result, job, calibration, part_tmps, clips, p_ref, log)
            stream_ok = stream is not None and stream["agreement"] >= MIN_AGREEMENT
            parts = {}
            if stream_ok:
                parts = {k: sibling(result.model, INT8_PART_SUFFIX[k]).name for k in part_tmps}
                parts["head"] = result.parts["head"].name  # the head is a few fp32 matrix products a frame
            proto = make_variant(precision, result.model, calibration if precision == "int8" else None)
            strip_node_metadata(proto, keys=None)  # on the edge every byte counts
            stamp(proto, build_metadata(job.config, kind="full", precision=precision,
                                        extra={**job.extra, "variant_of": result.model.name},
                                        **{**job.common, "parts": parts}))
            onnx_save(proto, tmp)
            figures = measure(result.model, tmp, clips, job.num_frames, p_ref)
            figures["min_agreement"] = MIN_AGREEMENT
            if precision == "int8":
                figures["quantization"] = (f"static Conv (calibrated on {CALIBRATION_CLIPS} {calibrated_on} clips), "
                                           "dynamic LSTM and Gemm/MatMul")
            figures["accepted"] = figures["agreement"] >= MIN_AGREEMENT
            if stream is not None:  # the parts are written with the variant or not at all
                figures["stream"] = {**stream, "accepted": stream_ok and figures["accepted"]}
            if figures["accepted"]:
                if stream_ok:  # the parts first: a reader that finds the variant finds its parts
                    for k, t in part_tmps.items():
                        os.replace(t, sibling(result.model, INT8_PART_SUFFIX[k]))
                os.replace(tmp, path)
                result.variants[precision] = path
                figures["path"] = path.name
            else:
                result.refused[precision] = figures
            result.report["variants"][precision] = figures
        finally:
            for t in (tmp, *part_tmps.values()):
                t.unlink(missing_ok=True)


def _int8_parts(result: ExportResult, job: _Job, calibration, tmps: dict[str, Path], clips, p_ref, log) -> dict:
    """Write the int8 encoder (and step) parts to `tmps`; their agreement with the fp32 model."""
    cfg = job.model.cfg
    state = (cfg.lstm_layers, cfg.hidden_size) if "step" in tmps else None
    log(f"making the int8 {' and '.join(tmps)} part(s) (static Conv)")
    for kind, proto in int8_parts({k: result.parts[k] for k in tmps}, calibration, state).items():
        strip_node_metadata(proto, keys=None)
        stamp(proto, build_metadata(job.config, kind=kind, precision="int8", extra=job.extra,
                                    **{**job.common, "parts": {}}))  # the variant lists the parts; a part lists none
        onnx_save(proto, tmps[kind])
    log("checking the int8 stream against the fp32 model")
    return measure_stream(p_ref, {**tmps, "head": result.parts["head"]}, result.parts["encoder"], clips,
                          job.num_frames, state)


def onnx_save(proto, path: Path) -> None:
    import onnx

    onnx.save(proto, str(path))


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
