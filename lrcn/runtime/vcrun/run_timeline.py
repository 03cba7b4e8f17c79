"""`vc-run FILE --timeline out.html|.json|.csv`: stream mode over one recorded video, as fast as possible."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.markup import escape

from lrcn.core.errors import VideoError
from lrcn.core.text import printable
from lrcn.runtime.console import err_console
from lrcn.runtime.sources import FileSource, is_live
from lrcn.runtime.timeline import Timeline, check_path, video_duration, write_timeline
from lrcn.runtime.vcrun.event_output import EventPrinter


def check_timeline(sources: list[str], out: str, csv_out: str | None, timeout_s: float) -> None:
    """Bad arguments fail here, in one line, before the model loads."""
    check_path(out)
    if len(sources) != 1 or is_live(sources[0]):
        raise ValueError("--timeline takes one video file")
    if csv_out:
        raise ValueError("--timeline writes its own table: use --timeline out.csv instead of --csv")
    FileSource(sources[0], timeout_s=timeout_s)  # a missing file: VideoError naming it


def run_timeline(clf, path: str, out: str, scfg, printer: EventPrinter, *, progress: bool = True) -> Timeline:
    """Classify `path` in stream mode, print its events (and send them to the printer's sinks), write
    the timeline to `out`; return it. The caller closes `printer` (`with`), which flushes the sinks.

    Ctrl-C stops early: the timeline of what was classified is still written (and says how long).
    """
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    duration = video_duration(path)
    printer.bind(clf.class_names, keep_events=None)  # one file's events, all of them, for the timeline
    rate = clf.meta.sample_fps if scfg.sample_fps is None else scfg.sample_fps
    window_s = (clf.sampled_frames - 1) / rate if rate else None  # rate 0: every frame, at a rate unknown here
    tl = Timeline(str(path), clf.class_names, duration or 0.0, printer.config, window_s)
    name = Path(path).name
    stopped, stream = False, None
    columns = (
        TextColumn("timeline"),
        BarColumn(),
        TextColumn("{task.completed:.1f} s of video"),
        TimeRemainingColumn(),
    )
    try:
        stream = clf.stream(str(path), scfg)
        with Progress(*columns, console=err_console, transient=True, disable=not progress) as bar:
            task = bar.add_task("timeline", total=duration)
            if progress and err_console.is_terminal and sys.stdout.isatty():  # one screen: print above the bar
                printer.screen = bar.console
            try:
                for pred in stream:
                    if pred.ready:
                        tl.add(pred.t, pred.probs)
                        printer.prediction(pred, stream=name)
                    bar.update(task, completed=pred.t)
            except KeyboardInterrupt:
                stopped = True
            finally:
                printer.screen = None
    finally:
        if stream is not None:
            stream.close()
    printer.end()
    if not tl.times:
        raise VideoError(
            f"{path}: no prediction (the video ended before the first window of {clf.meta.num_frames} frames filled)"
        )
    assert printer.router is not None  # bound before the first prediction
    tl.events = sorted(
        printer.router.detector.events, key=lambda e: (e.start, e.label)
    )  # in the order they ended before
    tl.duration = tl.times[-1] if stopped or not duration else duration
    written = write_timeline(out, tl)
    note = f", stopped at {tl.duration:.1f} s" if stopped else ""
    err_console.print(
        f"timeline {escape(printable(written))}: {tl.duration:.1f} s, {len(tl.times)} predictions, "
        f"{len(tl.events)} events{note}",
        highlight=False,
    )
    return tl
