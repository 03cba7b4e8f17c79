"""`vc-export`: a trained run -> ONNX with metadata, checked by the parity gate, plus streaming parts."""

from __future__ import annotations

from typing import Annotated

import typer

from lrcn.core.paths import RUNS_DIR
from lrcn.models.specs import family_names
from lrcn.runtime.console import err_console, fail, one_line_errors

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=False)


def _precisions(values: list[str] | None) -> list[str]:
    from lrcn.export.variants import PRECISIONS

    out = [p.strip() for v in values or [] for p in v.split(",") if p.strip()]
    bad = [p for p in out if p not in PRECISIONS]
    if bad:
        raise ValueError(f"--precision takes {', '.join(PRECISIONS)}; got {bad[0]!r}")
    return list(dict.fromkeys(out))


def _variant_line(precision: str, f, fp32_name: str) -> str:
    """One line for a variant's figures (lrcn.export.report.VariantFigures)."""
    from rich.markup import escape

    from lrcn.export.inspect import human_size

    figures = (
        f"{human_size(f.size_bytes)} ({f.size_ratio:.0%} of fp32), CPU {f.latency_ms:.2f} ms per "
        f"T={f.T} clip (fp32 {f.fp32_latency_ms:.2f} ms), top-1 agreement {f.agreement:.1%} "
        f"on {f.clips} {f.clips_from} clips"
    )
    st = f.stream
    if st:
        figures += (
            f"; stream: encoder {st.encoder_ms:.2f} ms a frame (fp32 {st.fp32_encoder_ms:.2f} ms), "
            f"top-1 agreement {st.agreement:.1%}"
            + (
                ""
                if st.accepted
                else f" < {f.min_agreement:.0%}, so no int8 streaming parts"
                if st.agreement < f.min_agreement
                else ", parts not written"
            )
        )
    if f.accepted:
        return escape(f"{precision}: {figures} -> {f.path}")
    return f"[red]{precision} refused[/]: " + escape(
        f"agreement {f.agreement:.1%} < {f.min_agreement:.0%} with {fp32_name}; {figures}"
    )


@app.command()
def main(
    model: Annotated[
        str | None, typer.Option(help=f"Family to export (newest run): {', '.join(family_names())}, or all.")
    ] = None,
    run: Annotated[str | None, typer.Option(help="Export this run folder's best.pt instead.")] = None,
    checkpoint: Annotated[str | None, typer.Option(help="Export this checkpoint file instead.")] = None,
    out: Annotated[str | None, typer.Option(help="FILE.onnx, or a folder (default artifacts/models/).")] = None,
    opset: Annotated[int, typer.Option(help="ONNX opset (18 runs on onnxruntime 1.14 and later).")] = 18,
    precision: Annotated[
        list[str] | None, typer.Option(help="Edge variant(s) too: fp16, int8 (repeat or comma list).")
    ] = None,
    stream: Annotated[
        bool, typer.Option("--stream/--no-stream", help="Also write the streaming parts (encoder, head, step).")
    ] = True,
    tolerance: Annotated[float, typer.Option(help="Parity gate: max |Δprobs| onnxruntime vs PyTorch.")] = 1e-5,
    runs_dir: Annotated[str, typer.Option(help="Where --model looks for runs.")] = str(RUNS_DIR),
    inspect: Annotated[bool, typer.Option("--inspect", help="Then show the model (vc-inspect).")] = False,
) -> None:
    """Export, gate (onnx.checker, symbolic batch/time, onnxruntime = PyTorch) and move into place."""
    from pathlib import Path

    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    with one_line_errors():
        if not 7 <= opset <= 23:
            raise ValueError(f"--opset must be in 7..23, got {opset}")
        if not 0 <= tolerance < 1:
            raise ValueError(f"--tolerance must be in [0, 1), got {tolerance}")
        precisions = _precisions(precision)
        if model is not None and model not in (*family_names(), "all"):
            raise ValueError(f"--model must be one of {', '.join(family_names())}, all; got {model!r}")
        from lrcn.export.sources import resolve_sources

        sources = resolve_sources(model, run, checkpoint, Path(runs_dir))
        if out and out.endswith(".onnx") and len(sources) > 1:
            raise ValueError("--out FILE.onnx names one model; give a folder with --model all")
        import shlex

        from rich.markup import escape

        from lrcn.core.errors import LrcnError
        from lrcn.export.pipeline import export_run

        done, failed = [], 0
        for src in sources:
            try:
                result = export_run(
                    src,
                    out,
                    family=model if model != "all" else None,
                    opset=opset,
                    precisions=precisions,
                    stream=stream,
                    tolerance=tolerance,
                    log=lambda s: console.print(f"[dim]{escape(s)}[/]"),
                )
            except LrcnError as e:
                where = "" if str(e).startswith(str(src.checkpoint)) else f"{src.checkpoint}: "
                err_console.print(f"[bold red]error:[/] {escape(f'{where}{e}')}", markup=True)
                failed += 1
                continue
            console.print(result.summary, markup=False)
            for p, figures in (result.report.variants or {}).items():
                console.print(_variant_line(p, figures, result.model.name))
            failed += bool(result.refused)
            done.append(result)
        if done:
            console.print("next:")
            for r in done:
                console.print(f"  vc-run VIDEO --model {shlex.quote(str(r.model))}", markup=False)
                console.print(f"  vc-inspect {shlex.quote(str(r.model))}", markup=False)
        if inspect and done:
            from lrcn.export.inspect_cli import show

            for r in done[:-1]:
                show(str(r.model), summary_only=True)
            show(str(done[-1].model))
    if failed and len(sources) > 1:
        raise fail(f"{failed} of {len(sources)} exports failed the gate or had a variant refused (see above)", 1)
    if failed:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
