"""`vc-bench`: the exported runtime against eager PyTorch, side by side, with medians and spread.

Sections: clip (latency at batch 1, throughput at batch 8: eager, onnxruntime fp32/fp16/int8),
stream (per-frame cost: eager full-window re-run, the runtime's sliding window, the step
model), e2e (stream mode on a 30 fps source, decode included), train (frozen pretrained epoch
with and without the feature cache), memory (peak RSS, runtime process against PyTorch's),
profile (onnxruntime's per-operator kernel times for fp32 and the int8 models), flow (the
optical-flow step's cost per frame at 64 and 128 px, once per bench), and, only when
named (`--only streams`), streams (how many concurrent 25 fps streams one process serves, against
as many single-stream processes).
"""

from __future__ import annotations

from typing import Annotated

import typer

from lrcn.models.specs import family_names
from lrcn.runtime.console import err_console, one_line_errors

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=False)
FLAGS = {
    "models": "--model",
    "sections": "--only",
    "device": "--device",
    "frames": "--frames",
    "img_size": "--img-size",
    "repeat": "--repeat",
    "batch": "--batch",
    "train_clips": "--train-clips",
    "threads": "--threads",
    "block_s": "--block-seconds",
    "max_s": "--max-seconds",
    "e2e_seconds": "--e2e-seconds",
    "streams_seconds": "--streams-seconds",
    "streams_max": "--streams-max",
    "streams_procs_max": "--streams-procs-max",
}
"""BenchConfig's parameters -> this CLI's flags, for its error messages."""


def _list(value: str, allowed: tuple[str, ...]) -> list[str]:
    items = [v.strip() for v in value.split(",") if v.strip()]
    if items == ["all"]:
        from lrcn.bench.config import DEFAULT_SECTIONS

        return list(DEFAULT_SECTIONS) if allowed[-1] == "streams" else list(allowed)
    return list(dict.fromkeys(items))


@app.command()
def main(
    model: Annotated[str, typer.Option(help=f"{', '.join(family_names())}, all, or a comma list.")] = "all",
    frames: Annotated[int, typer.Option(help="T, frames per clip.")] = 15,
    img_size: Annotated[int, typer.Option(help="Square input side in pixels.")] = 128,
    threads: Annotated[int | None, typer.Option(help="CPU threads for both sides (default: every core).")] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    repeat: Annotated[int, typer.Option(help="Rounds per side-by-side comparison.")] = 3,
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write every figure and the machine facts here.")
    ] = None,
    run: Annotated[
        str | None, typer.Option(help="A trained run folder: its weights, T and size (else random weights).")
    ] = None,
    only: Annotated[
        str,
        typer.Option(
            help="Sections, comma list: clip, stream, e2e, train, memory, profile, flow, "
            "streams (all: every one but streams)."
        ),
    ] = "all",
    backbone: Annotated[str, typer.Option(help="Backbone of the pretrained family.")] = "resnet152",
    batch: Annotated[int, typer.Option(help="Batch size of the clip-mode throughput figure.")] = 8,
    block_seconds: Annotated[float, typer.Option(help="A side's turn in a round: calls for this long.")] = 0.3,
    max_seconds: Annotated[float, typer.Option(help="No new round of a comparison starts after this long.")] = 45.0,
    train_clips: Annotated[int, typer.Option(help="Clips in the training-epoch figure.")] = 16,
    e2e_seconds: Annotated[float, typer.Option(help="How long the 30 fps source plays, per stream mode.")] = 4.0,
    streams_seconds: Annotated[float, typer.Option(help="Streams: seconds measured per number of streams.")] = 5.0,
    streams_max: Annotated[int, typer.Option(help="Streams: the most concurrent streams tried.")] = 64,
    streams_procs_max: Annotated[int, typer.Option(help="Streams: the most separate processes tried.")] = 16,
    streams_mjpeg: Annotated[
        bool,
        typer.Option(
            "--streams-mjpeg/--no-streams-mjpeg", help="Streams: also with loopback MJPEG cameras (decoding included)."
        ),
    ] = True,
    streams_rtsp: Annotated[
        bool,
        typer.Option(
            "--streams-rtsp/--no-streams-rtsp",
            help="Streams: also with loopback H.264 640x360 RTSP cameras (GStreamer's RTSP server; decoding included).",
        ),
    ] = True,
    workdir: Annotated[str, typer.Option(help="Exported models, videos and caches (reused).")] = "artifacts/bench",
) -> None:
    """Measure and print the figures; --json keeps them for benchmarks/make_table.py."""
    with one_line_errors():
        from lrcn.bench.config import SECTIONS, BenchConfig
        from lrcn.core.checks import with_flags

        try:
            cfg = BenchConfig(
                models=_list(model, family_names()),
                frames=frames,
                img_size=img_size,
                threads=threads,
                device=device,
                repeat=repeat,
                sections=_list(only, SECTIONS),
                run=run,
                backbone=backbone,
                batch=batch,
                block_s=block_seconds,
                max_s=max_seconds,
                train_clips=train_clips,
                e2e_seconds=e2e_seconds,
                streams_seconds=streams_seconds,
                streams_max=streams_max,
                streams_procs_max=streams_procs_max,
                streams_mjpeg=streams_mjpeg,
                streams_rtsp=streams_rtsp,
                workdir=workdir,
            )
        except ValueError as e:
            raise ValueError(with_flags(str(e), FLAGS)) from None
        if run and model not in ("all", None):
            err_console.print(f"--run given: measuring that run's model; --model {model} is ignored")
        from lrcn.bench.run import run_bench
        from lrcn.bench.table import render

        doc = run_bench(cfg, json_out, log=lambda s: err_console.print(s, highlight=False, markup=False))
        print(render([doc]))
        if json_out:
            err_console.print(f"wrote {json_out}; render the tables with: python benchmarks/make_table.py {json_out}")
        failed = [
            f"{fam} {sec}"
            for fam, e in doc["models"].items()
            for sec, v in e.items()
            if isinstance(v, dict) and "error" in v
        ]
        if isinstance(doc.get("flow"), dict) and "error" in doc["flow"]:
            failed.append("flow")
        if failed:
            raise typer.Exit(1)
