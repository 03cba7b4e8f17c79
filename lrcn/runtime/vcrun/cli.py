"""`vc-run`: classify video files, folders, globs, cameras and stream URLs with an exported model.

Files run in clip mode (T frames sampled over the whole video, as in training) unless
--stream, --show or --save is given; cameras (`vc-run 0`), URLs and `.streams` lists always
stream. In stream mode every source runs at once in this process, batched through one model.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Annotated

import typer
from rich.markup import escape

from lrcn.core.checks import with_flags
from lrcn.core.paths import DECODE_TIMEOUT_S, STREAM_TIMEOUT_S
from lrcn.core.text import printable
from lrcn.runtime.console import err_console, fail, one_line_errors
from lrcn.runtime.sinks import SINK_SPECS
from lrcn.runtime.vcrun.entry import App

STREAM_FLAGS = {  # StreamConfig's parameters -> vc-run's flags, for its errors
    "sample_fps": "--sample-fps",
    "smooth": "--smooth",
    "threshold": "--threshold",
    "max_frames": "--max-frames",
}

app = App(add_completion=False, help=__doc__, no_args_is_help=False)


def _check(sources, top_k, clips, device, threads, reconnect, decode_timeout, stream_timeout) -> None:
    from lrcn.runtime.session import DEVICES

    if not sources:
        raise fail("give a video file, folder, glob, camera index (0) or stream URL", 2)
    if top_k < 1:
        raise fail(f"--top-k must be >= 1, got {top_k}", 2)
    if clips < 1:
        raise fail(f"--clips must be >= 1, got {clips}", 2)
    if device not in DEVICES:
        raise fail(f"--device must be one of {', '.join(DEVICES)}, got {device!r}", 2)
    if threads is not None and threads < 1:
        raise fail(f"--threads must be >= 1, got {threads}", 2)
    if reconnect < 0:
        raise fail(f"--reconnect must be >= 0, got {reconnect}", 2)
    if not decode_timeout > 0:
        raise fail(f"--decode-timeout must be > 0 seconds, got {decode_timeout}", 2)
    if not stream_timeout > 0:
        raise fail(f"--stream-timeout must be > 0 seconds, got {stream_timeout}", 2)


def _model_path(model: str | None) -> str:
    from lrcn.runtime.model import DEFAULT_MODELS_DIR, newest_model

    if model:
        return model
    found = newest_model(DEFAULT_MODELS_DIR)
    if found is None:
        raise fail(f"no model under {DEFAULT_MODELS_DIR}/: export one with `vc-export RUN_DIR`, or pass --model", 1)
    err_console.print(
        f"model {printable(found)} (the newest under {DEFAULT_MODELS_DIR}/)", highlight=False, markup=False
    )
    return str(found)


@app.command()
def main(
    sources: Annotated[
        list[str] | None,
        typer.Argument(
            help="Video files, folders, globs, camera indices (0), stream URLs (rtsp://, http://) or .streams "
            "lists of them; in stream mode all run at once.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Exported M.onnx (default: the newest under artifacts/models/)."),
    ] = None,
    top_k: Annotated[int, typer.Option(help="Labels shown per prediction.")] = 5,
    clips: Annotated[int, typer.Option(help="Clip mode: average N evenly spaced clips over each video.")] = 1,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Clip mode: classify files in N processes, the cores split between them (--threads: each worker's); "
            "default 1, with --ray one Ray actor per CPU of the cluster.",
            show_default=False,
        ),
    ] = None,
    stream: Annotated[bool, typer.Option("--stream", help="Stream mode for files too.")] = False,
    sample_fps: Annotated[
        float | None,
        typer.Option(help="Stream mode: frames fed per second (default: the training rate; 0: every frame)."),
    ] = None,
    stateful: Annotated[
        bool, typer.Option("--stateful", help="Stream mode: carry the LSTM state (step part) instead of a window.")
    ] = False,
    smooth: Annotated[int, typer.Option(help="Stream mode: moving average over N predictions.")] = 1,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Below this probability the label shows as uncertain "
            "(default 0); with --events, a label at or above it "
            "counts (default 0.5)."
        ),
    ] = None,
    events: Annotated[
        bool,
        typer.Option(
            "--events",
            help="Stream mode: print events (a label held at or above --threshold) instead of every prediction.",
        ),
    ] = False,
    min_event: Annotated[float, typer.Option(help="Events: seconds a label must hold to become an event.")] = 1.0,
    merge_gap: Annotated[
        float, typer.Option(help="Events: seconds below the threshold that end an event; shorter gaps are merged.")
    ] = 1.0,
    sink: Annotated[
        list[str] | None,
        typer.Option(
            help=f"Send events to {SINK_SPECS} (repeatable; implies --events).",
            show_default=False,
        ),
    ] = None,
    media: Annotated[
        str | None,
        typer.Option(
            help="Events: a clip (pre_s before to post_s after) and a peak snapshot per event in this folder "
            "(DIR#pre_s=3,post_s=3,days=0,max_mb=0: retention by age and size, 0 = none; implies --events; "
            "copy=1,ring_mb=32: H.264 from rtsp:// and .mp4/.mkv/.mov sources copied, not re-encoded).",
            show_default=False,
        ),
    ] = None,
    timeline: Annotated[
        str | None,
        typer.Option(
            help="Write the timeline of one video file (events, a label per second) to out.html, .json or .csv.",
            show_default=False,
        ),
    ] = None,
    show: Annotated[
        bool,
        typer.Option(
            "--show", help="Show every stream in one window (q or Esc quits); files play at their own frame rate."
        ),
    ] = False,
    fast: Annotated[
        bool,
        typer.Option("--fast", help="With --show: play files as fast as they are classified, not at their frame rate."),
    ] = False,
    save: Annotated[
        str | None, typer.Option(help="Write the annotated mosaic of the streams to this video file.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON line per prediction on stdout.")] = False,
    csv_out: Annotated[str | None, typer.Option("--csv", help="Also write the results to this CSV file.")] = None,
    parquet: Annotated[
        str | None, typer.Option(help="Clip mode: also write the results to this Parquet file (needs pyarrow).")
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            help="Clip mode: classify the files on a Ray cluster (the `cluster` extra): local (start one here), "
            "auto (join the running one) or HOST:PORT of its head.",
            show_default=False,
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or tensorrt.")] = "auto",
    threads: Annotated[int | None, typer.Option(help="CPU threads for onnxruntime (default: all cores).")] = None,
    reconnect: Annotated[int, typer.Option(help="URL streams: reopen attempts (with backoff) after a drop.")] = 5,
    max_frames: Annotated[int | None, typer.Option(help="Stream mode: stop after N processed frames.")] = None,
    motion: Annotated[
        str | None,
        typer.Option(
            help="Stream mode: skip the CNN on frames whose view did not change (window mode, rgb or diff "
            "models): `on`, or PIXEL_DELTA[,MIN_AREA[,MAX_GAP]] (grey levels, share of pixels, frames; "
            "default 12,0.005,50).",
            show_default=False,
        ),
    ] = None,
    zone: Annotated[
        list[str] | None,
        typer.Option(
            help="Stream mode: classify a region of every source as its own stream NAME (`cam/NAME`), from one "
            "decode: NAME=x0,y0,x1,y1 in fractions of the frame, optionally :x,y,x,y,... a mask polygon "
            "(repeatable).",
            show_default=False,
        ),
    ] = None,
    decode_timeout: Annotated[
        float,
        typer.Option(
            help="Clip mode: seconds before a file that will not finish decoding is given up (named as failed)."
        ),
    ] = DECODE_TIMEOUT_S,
    stream_timeout: Annotated[
        float,
        typer.Option(
            help="Stream mode: seconds a camera or URL may take "
            "to open, or any source (files too) may go without a "
            "frame, before it counts as dropped."
        ),
    ] = STREAM_TIMEOUT_S,
) -> None:
    """Classify each input and print top-k labels; exit 1 if any input failed."""
    _check(sources, top_k, clips, device, threads, reconnect, decode_timeout, stream_timeout)
    assert sources is not None  # _check failed on no sources
    if workers is not None and workers < 1:
        raise fail(f"--workers must be >= 1, got {workers}", 2)
    if (ray is not None or parquet) and timeline:
        raise fail("--ray and --parquet are for clip mode over files, not --timeline", 2)
    with _reserved(save), one_line_errors():
        if parquet:  # before any work: a missing pyarrow is said now, not after the last file
            from lrcn.runtime.vcrun.parquet import import_pyarrow

            import_pyarrow()
        from lrcn.runtime.sources import is_live
        from lrcn.runtime.stream import StreamConfig
        from lrcn.runtime.streamlist import is_stream_list

        try:
            scfg = StreamConfig(
                sample_fps=sample_fps,
                stateful=stateful,
                smooth=smooth,
                threshold=threshold or 0.0,
                max_frames=max_frames,
                realtime=show and not fast,
                motion=_motion(motion, stateful),
            )
        except ValueError as e:  # the library names its parameters; the user typed flags
            raise fail(with_flags(str(e), STREAM_FLAGS), 2) from None
        zones = _zones(zone or [])
        if timeline:  # one file, stream mode as fast as it decodes; events and sinks as in stream mode
            from lrcn.runtime.vcrun.run_timeline import check_timeline, run_timeline

            check_timeline(sources, timeline, csv_out, stream_timeout)
            with _event_printer(threshold, min_event, merge_gap, sink, json_out) as ev:
                run_timeline(_classifier(model, device, threads, top_k), sources[0], timeline, scfg, ev)
            return
        with_events = events or bool(sink) or bool(media)  # events only exist in stream mode: they imply it
        streaming = (
            stream or with_events or show or bool(save) or bool(zones) or bool(motion)
            or any(is_live(s) or is_stream_list(s) for s in sources)
        )  # fmt: skip
        if streaming and (workers or 1) > 1:
            raise fail("--workers is for clip mode over files; streams all run in one process", 2)
        if streaming and (ray is not None or parquet):
            raise fail("--ray and --parquet are for clip mode over files; streams and cameras run here", 2)
        if streaming:  # rows go to the CSV as they come; without --csv none is kept
            from contextlib import nullcontext

            printer = (
                _event_printer(threshold, min_event, merge_gap, sink, json_out, media) if with_events else nullcontext()
            )
            with _csv_rows(csv_out) as rows, printer as ev:
                failures = _streams(
                    sources, model, device, threads, top_k, scfg, reconnect, stream_timeout, show, save, json_out,
                    ev, rows, zones,
                )  # fmt: skip
        elif ray is not None:
            from lrcn.runtime.vcrun.ray_archive import PoolConfig, run_on_cluster

            results, failures = run_on_cluster(
                ray,
                _model_path(model),
                sources,
                clips=clips,
                json_out=json_out,
                device=device,
                threads=threads,
                top_k=top_k,
                decode_timeout_s=decode_timeout,
                pool=PoolConfig(workers=workers),
            )
            _write_tables(csv_out, parquet, results)
        else:
            clf = _classifier(model, device, threads, top_k, decode_timeout)
            from lrcn.runtime.vcrun.run_clips import run_clips

            results, failures = run_clips(
                clf, sources, clips=clips, json_out=json_out, workers=workers or 1, threads=threads
            )
            _write_tables(csv_out, parquet, results)
    if failures:
        raise typer.Exit(1)


def _write_tables(csv_out: str | None, parquet: str | None, rows: list[dict]) -> None:
    """Clip mode's results as --csv (atomic: an earlier file stays whole until the new one is complete)
    and --parquet."""
    if csv_out:
        from lrcn.runtime.vcrun.output import write_csv

        with _replacing(csv_out):
            write_csv(csv_out, rows)
    if parquet:
        from lrcn.runtime.vcrun.parquet import write_parquet

        write_parquet(parquet, rows)


@contextmanager
def _replacing(csv_out: str):
    """Say so when the CSV written in the block replaced an earlier file."""
    from pathlib import Path

    replaced = Path(csv_out).exists()
    yield
    if replaced:
        err_console.print(f"replaced {printable(csv_out)}", highlight=False, markup=False)


@contextmanager
def _csv_rows(csv_out: str | None):
    """Stream mode's row sink: `output.csv_rows` (written as it goes, atomic at the end), or None."""
    if not csv_out:
        yield None
        return
    from lrcn.runtime.vcrun.output import csv_rows

    with _replacing(csv_out), csv_rows(csv_out) as add:
        yield add


@contextmanager
def _reserved(save: str | None):
    """--save's file, created exclusively at the check (before the model loads), removed again if no video
    came of the run; the video itself is os.replace'd over it (display.Display)."""
    if not save:
        yield
        return
    from lrcn.core.errors import LrcnError
    from lrcn.runtime.vcrun.display import reserve_save, unreserve

    try:
        ident = reserve_save(save)
    except LrcnError as e:
        raise fail(str(e), 2) from None
    try:
        yield
    finally:
        unreserve(save, ident)


def _event_printer(threshold, min_event, merge_gap, sink, json_out, media=None):
    from lrcn.runtime.event_media import MediaConfig
    from lrcn.runtime.events import EventConfig
    from lrcn.runtime.vcrun.event_output import EventPrinter

    cfg = EventConfig(
        **({} if threshold is None else {"threshold": threshold}), min_event=min_event, merge_gap=merge_gap
    )
    return EventPrinter(cfg, sink, json_out, MediaConfig.from_spec(media) if media else None)


def _classifier(model, device, threads, top_k, decode_timeout: float = DECODE_TIMEOUT_S):
    from lrcn.runtime.classifier import VideoClassifier

    clf = VideoClassifier(
        _model_path(model), device=device, threads=threads, top_k=top_k, decode_timeout_s=decode_timeout
    )
    if clf.device_note:
        err_console.print(f"[yellow]note[/] {escape(printable(clf.device_note))}", highlight=False)
    err_console.print(f"providers {', '.join(clf.providers)}", highlight=False)
    return clf


def _motion(text: str | None, stateful: bool):
    """--motion -> MotionConfig (None: off); refused in one line with --stateful (nothing to skip there)."""
    if text is None:
        return None
    from lrcn.runtime.motion import parse_motion

    try:
        cfg = parse_motion(text)
    except ValueError as e:
        raise fail(f"--motion: {e}", 2) from None
    if stateful:
        raise fail("--motion needs window mode: --stateful runs one fused step part, with no encoder call to skip", 2)
    return cfg


def _zones(texts: list[str]):
    from lrcn.runtime.zones import check_zones, parse_zone

    try:
        zones = [parse_zone(t) for t in texts]
        if zones:
            check_zones(zones)
    except ValueError as e:
        raise fail(f"--zone: {e}", 2) from None
    return zones


def _streams(
    sources, model, device, threads, top_k, scfg, reconnect, timeout, show, save, json_out, events=None, rows=None,
    zones=(),
):  # fmt: skip
    """Open the sources first: a camera that cannot open fails in one line, before the model loads."""
    from lrcn.runtime.motion import gating_off
    from lrcn.runtime.vcrun.run_stream import close_targets, open_targets, run_streams

    media = getattr(events, "media_config", None)  # --media copies H.264 clips from the sources' packets
    ring = media.ring(events.config.min_event + 1.0) if media is not None else None
    targets = open_targets(sources, reconnect, timeout, zones, packets=ring)
    try:
        if len(targets) == 1 and targets[0].error:
            raise fail(targets[0].error, 1)
        clf = _classifier(model, device, threads, top_k)
        why = gating_off(scfg.motion, scfg.stateful, clf.meta.preprocess.modality, clf.meta.preprocess.zoom)
        if why:
            raise fail(f"--motion: {why}", 2)
    except BaseException:
        close_targets(targets)
        raise
    if events is not None:  # an event_output.EventPrinter: events instead of prediction lines, sinks
        events.bind(clf.class_names)
    return run_streams(clf, targets, scfg, show=show, save=save, json_out=json_out, events=events, rows=rows)


if __name__ == "__main__":
    app()
