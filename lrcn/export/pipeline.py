"""export_model: a model -> its ONNX files (full model, streaming parts, edge variants), gated or not.

vc-export runs it through `export_run` with the parity gate; vc-bench runs the same writer
without it (random weights make the agreement floors meaningless, and the gate's ResNet clips
cost minutes), so the files the bench measures are the files vc-export makes.

Every file is written to a temporary name in the target folder, checked there, and only then
moved into place (os.replace), so a failed gate writes no model: an earlier one at the target
stays as it was, and the failed report goes to M.failed.parity.json beside it. The full
model moves last: a reader that finds M.onnx finds its streaming parts beside it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lrcn.core.atomic import new_temp, write_json
from lrcn.core.paths import PARITY_SUFFIX, sibling
from lrcn.export.clips import ClipSet, load_clips
from lrcn.export.graphs import DEFAULT_OPSET, export_graph, graph_specs, step_absent
from lrcn.export.metadata import build_metadata, load_metrics, now_utc, sha256_file, stamp, strip_node_metadata
from lrcn.export.parity import (
    BATCHES,
    TOLERANCE,
    ParityError,
    check_file,
    clip_lengths,
    cpu_session,
    full_predictor,
    require,
    run_rows,
    summarize,
)
from lrcn.export.report import ExportReport, StreamFigures, VariantFigures
from lrcn.export.sources import ExportError, ExportSource, model_path, resolve_sources
from lrcn.export.streaming import step_predictor, window_predictor
from lrcn.export.variants import (
    MIN_AGREEMENT,
    PRECISION_OF,
    PRECISIONS,
    SUFFIX,
    agreement_clips,
    int8_parts,
    make_variant,
    measure,
    measure_stream,
    predict_all,
)
from lrcn.models.checkpoint import model_from_checkpoint
from lrcn.runtime.contract import PART_SUFFIX
from lrcn.runtime.preprocess import PreprocessSpec

AGREEMENT_CLIPS = 200
CALIBRATION_CLIPS = 8
"""int8's static Conv scales come from this many training clips (the agreement clips when there are none)."""
INT8_PART_SUFFIX = {"encoder": ".int8.encoder.onnx", "step": ".int8.step.onnx"}
"""int8 streaming parts: the encoder (and step) with static int8 Conv layers; the head stays fp32."""


@dataclass
class ExportResult:
    family: str
    model: Path
    parts: dict[str, Path]
    parity: Path | None
    """The parity report beside the model; None when written without the gate."""
    report: ExportReport
    summary: str
    variants: dict[str, Path] = field(default_factory=dict)
    variant_parts: dict[str, dict[str, Path]] = field(default_factory=dict)
    """precision -> its own streaming parts (int8: encoder, step), when written."""
    refused: dict[str, VariantFigures] = field(default_factory=dict)
    """precision -> its figures, for variants below MIN_AGREEMENT (not written)."""


def _session(kind: str, path: Path):
    try:
        return cpu_session(path)
    except Exception as e:  # noqa: BLE001 - onnxruntime refuses the graph
        raise ParityError(
            f"{kind} graph: onnxruntime cannot load it ({str(e).strip().splitlines()[0][:200]})"
        ) from None


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


def _job(
    model, config: dict, target: Path, sha: str, metrics: dict, run_dir: Path | None, opset: int, stream: bool
) -> _Job:
    specs = graph_specs(model, stream=stream)
    paths = {s.kind: target if s.kind == "full" else sibling(target, PART_SUFFIX[s.kind]) for s in specs}
    common = dict(
        parts={k: p.name for k, p in paths.items() if k != "full"},
        metrics=metrics,
        checkpoint_sha256=sha,
        exported=now_utc(),
    )
    extra = {
        "opset": opset,
        "full": target.name,
        **({"step_absent": step_absent(model.cfg)} if stream and "step" not in paths else {}),
    }
    return _Job(
        model,
        config,
        config["model"]["name"],
        target,
        specs,
        paths,
        common,
        extra,
        PreprocessSpec.from_dict(config["preprocess"]),
        int(config["preprocess"]["num_frames"]),
        run_dir,
    )


def _write_graphs(job: _Job, tmps: dict[str, Path], opset: int, log) -> None:
    import onnx

    for s in job.specs:
        log(f"exporting {job.family} {s.kind} graph (opset {opset})")
        try:
            proto = export_graph(s, opset)
        except Exception as e:  # noqa: BLE001 - any exporter failure becomes one line
            raise ExportError(
                f"{s.kind} graph: torch.onnx.export failed ({type(e).__name__}: {str(e).strip().splitlines()[0][:200]})"
            ) from None
        strip_node_metadata(proto)
        stamp(proto, build_metadata(job.config, kind=s.kind, extra=job.extra, **job.common))
        onnx.save(proto, str(tmps[s.kind]))


def _gate(job: _Job, tmps: dict[str, Path], report: ExportReport, tolerance: float) -> None:
    """Checker and symbolic dims on every file, then onnxruntime against PyTorch; raises ParityError."""
    for s in job.specs:
        report.files[s.kind] = {
            "path": job.paths[s.kind].name,
            "size_bytes": tmps[s.kind].stat().st_size,
            "dims": check_file(tmps[s.kind], s),
        }
    sessions = {k: _session(k, p) for k, p in tmps.items()}
    clips = load_clips(job.run_dir, job.spec, splits=("val", "test", "train"), limit=max(BATCHES))
    report.input = {"source": clips.origin, "videos": clips.paths}
    lengths = report.lengths
    checks = [("full", "full model", full_predictor(sessions["full"]))]
    if "encoder" in sessions:
        checks.append(("window", "encoder + head window", window_predictor(sessions["encoder"], sessions["head"])))
    if "step" in sessions:
        cfg = job.model.cfg
        checks.append(("step", "step model", step_predictor(sessions["step"], cfg.lstm_layers, cfg.state_width)))
    for key, name, predict in checks:
        summary = summarize(run_rows(name, predict, job.model, clips, lengths, tolerance))
        setattr(report, key, summary)
        require(name, summary, tolerance)


FAILED_SUFFIX = ".failed.parity.json"


def _outputs_of(target: Path) -> list[Path]:
    """Every file an export to `target` may write (model, parts, variants, report)."""
    suffixes = [".onnx", *PART_SUFFIX.values(), *SUFFIX.values(), *INT8_PART_SUFFIX.values(), PARITY_SUFFIX]
    return [sibling(target, suf) for suf in suffixes]


def export_run(
    source: ExportSource | str | Path,
    out: str | Path | None = None,
    *,
    family: str | None = None,
    opset: int = DEFAULT_OPSET,
    precisions: Sequence[str] = (),
    stream: bool = True,
    tolerance: float = TOLERANCE,
    log: Callable[[str], None] = lambda s: None,
) -> ExportResult:
    """Export a run folder or checkpoint (`source`) to `out` (default artifacts/models/<family>.onnx),
    through the parity gate (export_model with gate=True)."""
    if not isinstance(source, ExportSource):
        p = Path(source)
        source = resolve_sources(family, run=p if p.is_dir() else None, checkpoint=None if p.is_dir() else p)[0]
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad:
        raise ValueError(f"unknown precision {bad[0]!r}; choose from {', '.join(PRECISIONS)}")
    model, ckpt = model_from_checkpoint(source.checkpoint, family=family or source.family)
    config = ckpt["config"]
    return export_model(
        model,
        config,
        model_path(out, config["model"]["name"]),
        checkpoint=str(source.checkpoint),
        checkpoint_sha256=sha256_file(source.checkpoint),
        metrics=load_metrics(source.run_dir) or {"best_epoch": ckpt.get("epoch")},
        run_dir=source.run_dir,
        opset=opset,
        precisions=precisions,
        stream=stream,
        tolerance=tolerance,
        log=log,
    )


def export_model(
    model,
    config: dict,
    target: Path,
    *,
    checkpoint_sha256: str,
    checkpoint: str = "",
    metrics: dict | None = None,
    run_dir: Path | None = None,
    opset: int = DEFAULT_OPSET,
    precisions: Sequence[str] = (),
    stream: bool = True,
    gate: bool = True,
    tolerance: float = TOLERANCE,
    calibration: np.ndarray | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> ExportResult:
    """Write `model` (eval mode; `config` its run config dict) to `target` and beside it: the streaming
    parts with `stream`, and the edge variants of `precisions` (keys of variants.SUFFIX).

    gate=True: every file passes the parity gate before it is moved into place, each variant must
    agree with fp32 on MIN_AGREEMENT of the run's clips (else it is refused, see ExportResult.refused),
    and the report is written to M.parity.json, failed or not; raises ExportError (one line) when
    the gate fails. A failed gate leaves an earlier model at the target as it was (its failed report
    then goes to M.failed.parity.json). gate=False writes the same files, unchecked and unmeasured, and no report.
    int8 is calibrated on `calibration` (N, T, C, S, S), or on the run's training clips. Once the
    gate has passed, files an earlier export left at the target (an older model, parts or variants
    this export does not replace) are removed: they belong to another checkpoint.
    """
    bad = [p for p in precisions if p not in SUFFIX]
    if bad:
        raise ValueError(f"unknown precision {bad[0]!r}; choose from {', '.join(SUFFIX)}")
    t_start = time.perf_counter()
    job = _job(model, config, target, checkpoint_sha256, metrics or {}, run_dir, opset, stream)
    job.target.parent.mkdir(parents=True, exist_ok=True)
    report = ExportReport(
        family=job.family,
        model=job.target.name,
        checkpoint=checkpoint,
        checkpoint_sha256=checkpoint_sha256,
        opset=opset,
        tolerance=tolerance,
        lengths=clip_lengths(job.num_frames),
        batches=list(BATCHES),
        exported=job.common["exported"],
        step={"absent": job.extra["step_absent"]} if "step_absent" in job.extra else None,
    )
    parity = sibling(job.target, PARITY_SUFFIX) if gate else None
    tmps = {k: new_temp(p) for k, p in job.paths.items()}
    try:
        _write_graphs(job, tmps, opset, log)
        if gate:
            t_gate = time.perf_counter()
            _gate(job, tmps, report, tolerance)
            report.gate_seconds = round(time.perf_counter() - t_gate, 2)
        for stale in _outputs_of(job.target):
            if stale.exists() and stale not in job.paths.values() and stale.suffix == ".onnx":
                log(f"removing {stale.name} from an earlier export")
                stale.unlink()
        for kind in sorted(job.paths, key=lambda k: k == "full"):  # the full model last
            os.replace(tmps[kind], job.paths[kind])
        report.passed = gate
    except ExportError as e:
        report.error = str(e)
        # never delete what the user had: an earlier model at the target (and its report) stays;
        # the failed report then goes beside it under its own name
        kept = job.target.exists()
        failed = sibling(job.target, FAILED_SUFFIX) if kept else parity
        if failed is not None:
            write_json(failed, report.to_dict())
        if kept:
            said = f"; this report: {failed.name}" if failed is not None else ""
            raise type(e)(f"{e} (the earlier {job.target.name} is kept{said})") from None
        raise
    finally:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)
    summary = (
        report.summary_line(job.target) if gate else f"exported {job.family} without the parity gate -> {job.target}"
    )
    result = ExportResult(
        job.family, job.target, {k: p for k, p in job.paths.items() if k != "full"}, parity, report, summary
    )
    if precisions:
        _variants(result, precisions, job, calibration, gate, log)
    report.seconds = round(time.perf_counter() - t_start, 2)
    if parity is not None:
        write_json(parity, report.to_dict())
    return result


@dataclass
class _Reference:
    """What variants are measured against (gated exports only): the clips and the fp32 model's probs."""

    clips: ClipSet
    probs: np.ndarray


def _reference(job: _Job, result: ExportResult) -> _Reference:
    clips = load_clips(job.run_dir, job.spec, splits=("val",), limit=AGREEMENT_CLIPS)
    if not len(clips):
        clips = load_clips(job.run_dir, job.spec, splits=("test", "train"), limit=AGREEMENT_CLIPS)
    return _Reference(
        clips, predict_all(full_predictor(cpu_session(result.model)), agreement_clips(clips, job.num_frames))
    )


def _calibration(job: _Job, ref: _Reference | None) -> tuple[np.ndarray, str]:
    """int8's calibration clips: the run's training clips, else the agreement clips."""
    calib = load_clips(job.run_dir, job.spec, splits=("train",), limit=CALIBRATION_CLIPS)
    if not len(calib) and ref is not None:
        calib = ref.clips
    return calib.clips(job.num_frames, CALIBRATION_CLIPS), calib.origin


def _variants(
    result: ExportResult, precisions: Sequence[str], job: _Job, calibration: np.ndarray | None, gate: bool, log
) -> None:
    """Write each edge variant beside the fp32 model (gated: only those that agree) and record its figures."""
    ref = _reference(job, result) if gate else None
    calibrated_on = "given"
    if "int8" in precisions and calibration is None:
        calibration, calibrated_on = _calibration(job, ref)
    if gate:
        result.report.variants = {}
    for precision in dict.fromkeys(precisions):
        _variant(result, job, precision, calibration if precision == "int8" else None, calibrated_on, ref, log)


def _variant(
    result: ExportResult, job: _Job, precision: str, calibration, calibrated_on: str, ref: _Reference | None, log
) -> None:
    """One variant, and for int8 its streaming parts: both written, or neither."""
    path = sibling(result.model, SUFFIX[precision])
    part_paths = {
        k: sibling(result.model, suf)
        for k, suf in INT8_PART_SUFFIX.items()
        if precision == "int8" and k in result.parts
    }
    tmps = {"": new_temp(path), **{k: new_temp(p) for k, p in part_paths.items()}}
    log(f"making the {precision} variant of {result.model.name}")
    try:
        stream = (
            _int8_parts(result, job, calibration, {k: tmps[k] for k in part_paths}, ref, log) if part_paths else None
        )
        with_parts = bool(part_paths) and (stream is None or stream.agreement >= MIN_AGREEMENT)
        parts = {**{k: p.name for k, p in part_paths.items()}, "head": result.parts["head"].name} if with_parts else {}
        # the head is a few fp32 matrix products a frame: the variant streams with the fp32 one
        proto = make_variant(PRECISION_OF[precision], result.model, calibration)
        strip_node_metadata(proto, keys=None)  # on the edge every byte counts
        stamp(
            proto,
            build_metadata(
                job.config,
                kind="full",
                precision=PRECISION_OF[precision],
                extra={**job.extra, "variant_of": result.model.name},
                **{**job.common, "parts": parts},
            ),
        )
        onnx_save(proto, tmps[""])
        figures = None
        if ref is not None:
            figures = VariantFigures(
                **measure(result.model, tmps[""], ref.clips, job.num_frames, ref.probs),
                min_agreement=MIN_AGREEMENT,
                stream=stream,
            )
            figures.accepted = figures.agreement >= MIN_AGREEMENT
            if precision == "int8":
                figures.quantization = (
                    f"static Conv (calibrated on {CALIBRATION_CLIPS} {calibrated_on} clips), "
                    "dynamic LSTM and Gemm/MatMul"
                )
            if stream is not None:  # the parts are written with the variant or not at all
                stream.accepted = with_parts and figures.accepted
            result.report.variants[precision] = figures
        if figures is not None and not figures.accepted:
            result.refused[precision] = figures
            return
        if with_parts:  # the parts first: a reader that finds the variant finds its parts
            for k, p in part_paths.items():
                os.replace(tmps[k], p)
            result.variant_parts[precision] = part_paths
        os.replace(tmps[""], path)
        result.variants[precision] = path
        if figures is not None:
            figures.path = path.name
    finally:
        for t in tmps.values():
            t.unlink(missing_ok=True)


def _int8_parts(
    result: ExportResult, job: _Job, calibration, tmps: dict[str, Path], ref: _Reference | None, log
) -> StreamFigures | None:
    """Write the int8 encoder (and step) parts to `tmps`; gated, their agreement with the fp32 model."""
    cfg = job.model.cfg
    state = (cfg.lstm_layers, cfg.state_width) if "step" in tmps else None
    log(f"making the int8 {' and '.join(tmps)} part(s) (static Conv)")
    for kind, proto in int8_parts({k: result.parts[k] for k in tmps}, calibration, state).items():
        strip_node_metadata(proto, keys=None)
        stamp(
            proto,
            build_metadata(job.config, kind=kind, precision="int8", extra=job.extra, **{**job.common, "parts": {}}),
        )  # the variant lists the parts; a part lists none
        onnx_save(proto, tmps[kind])
    if ref is None:
        return None
    log("checking the int8 stream against the fp32 model")
    return StreamFigures(
        **measure_stream(
            ref.probs, {**tmps, "head": result.parts["head"]}, result.parts["encoder"], ref.clips, job.num_frames, state
        )
    )


def onnx_save(proto, path: Path) -> None:
    import onnx

    onnx.save(proto, str(path))
