"""vc-run's stream mode: every source at once through one model, a line (or JSON line) per prediction.

Sources are camera indices, URLs, video files (folders and globs expand to their files) and
`.streams` lists of them. All run concurrently (`runtime.scheduler`); each has a short name
that starts every output line. A source that cannot open or that fails later is one `error:`
line and the others go on; a dropped URL reconnects on its own (--reconnect). Ctrl-C,
SIGTERM, q or Esc stop all streams cleanly: every stream's summary prints (as JSON lines too
with --json), and the exit code only reflects sources that failed.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape

from lrcn.core.errors import LrcnError
from lrcn.core.paths import STREAM_TIMEOUT_S
from lrcn.core.text import printable
from lrcn.runtime.classifier import error_row
from lrcn.runtime.console import err_console
from lrcn.runtime.frame_source import FrameSource
from lrcn.runtime.packets import RingConfig
from lrcn.runtime.sources import check_source, expand_inputs, is_live, open_file, open_source
from lrcn.runtime.stream import StreamConfig
from lrcn.runtime.streamlist import (
    is_stream_list,
    read_stream_list,
    short_name,
    unique_names,
)
from lrcn.runtime.vcrun.output import json_line, stream_line
from lrcn.runtime.zones import Zone, split_zones

RowSink = Callable[[dict], None]
"""Where stream mode's rows go as they come (vc-run's --csv); None keeps nothing."""


@dataclass
class Target:
    name: str
    """Short stream name, unique in this run."""
    input: str
    """What the user gave (or the file a folder expanded to)."""
    source: FrameSource | None
    error: str | None = None


def _entries(sources: list[str]) -> list[tuple[str | None, str, str | None]]:
    """(name, input, error) per source, .streams lists read in place."""
    out: list[tuple[str | None, str, str | None]] = []
    for s in sources:
        if is_stream_list(s):
            try:
                out += [(name, src, None) for name, src in read_stream_list(s)]
            except LrcnError as e:
                out.append((None, s, str(e)))
        else:
            out.append((None, s, None))
    return out


def open_targets(
    sources: list[str],
    reconnect: int,
    timeout_s: float = STREAM_TIMEOUT_S,
    zones: Sequence[Zone] = (),
    packets: RingConfig | None = None,
) -> list[Target]:
    """A Target per camera, URL or video file; `error` set where one cannot open.

    Cameras and URLs open here, before the model loads, so one that cannot open fails first
    and alone; their capture threads keep only the newest frame until the streams start.
    With `zones`, each opened source becomes one Target per zone (`name/zone`), all from its one decode.
    `packets`: sources that can keep their H.264 packets for copied event clips do (`sources.open_source`).
    """
    found: list[tuple[str | None, str, FrameSource | None, str | None]] = []
    for name, s, error in _entries(sources):
        if error:
            found.append((name, s, None, error))
            continue
        try:
            check_source(s)  # control characters, bad URLs and camera indices fail here, before any connection
            if is_live(s):
                found.append((name, s, open_source(s, reconnect=reconnect, timeout_s=timeout_s, packets=packets), None))
            else:
                files = expand_inputs(s)
                found += [
                    (
                        name if len(files) == 1 else None,
                        str(f),
                        open_file(f, timeout_s=timeout_s, packets=packets),
                        None,
                    )
                    for f in files
                ]
        except LrcnError as e:
            found.append((name, s, None, str(e)))
    names = unique_names([n or short_name(s) for n, s, _, _ in found])
    targets = [Target(n, s, src, err) for n, (_, s, src, err) in zip(names, found)]
    return zoned(targets, zones) if zones else targets


def zoned(targets: list[Target], zones: Sequence[Zone]) -> list[Target]:
    """Each opened target -> a target per zone, named `name/zone`, over one decode (`zones.split_zones`)."""
    out: list[Target] = []
    for t in targets:
        if t.source is None:
            out.append(t)
            continue
        out += [Target(f"{t.name}/{z.zone.name}", t.input, z) for z in split_zones(t.source, zones)]
    return out


def close_targets(targets: list[Target]) -> None:
    for t in targets:
        if t.source is not None:
            t.source.close()


@contextmanager
def sigterm_as_interrupt():
    """SIGTERM stops the streams the way Ctrl-C does (summaries, exit 0), in the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _fail(name: str, source: str, message: str, rows: RowSink | None, failures: list[str]) -> None:
    failures.append(message)
    if rows is not None:
        rows({"stream": name, **error_row(source, message)})
    err_console.print(f"[bold red]error:[/] {escape(printable(message))}", highlight=False)


def run_streams(
    clf,
    targets: list[Target],
    cfg: StreamConfig,
    *,
    show: bool = False,
    save: str | None = None,
    json_out: bool = False,
    events=None,
    rows: RowSink | None = None,
) -> list[str]:
    """Stream every opened target at once until all end or the user stops; then close them all.

    `events` (an event_output.EventPrinter) takes every ready prediction and the end of each stream.
    `rows` (`output.csv_rows`'s `add`) is handed each prediction and error row as it comes; nothing
    is kept here, so a run of days costs no memory per prediction. Returns the failure messages.
    """
    from lrcn.runtime.scheduler import MultiStream
    from lrcn.runtime.vcrun.display import Display

    failures: list[str] = []
    for t in targets:
        if t.error:
            _fail(t.name, t.input, t.error, rows, failures)
    opened = [t for t in targets if t.source is not None]
    pairs = [(t.name, t.source) for t in targets if t.source is not None]  # the same, by name
    if not opened:
        return failures
    try:
        multi = MultiStream(clf, pairs, cfg)
    except BaseException:
        close_targets(opened)
        raise
    t_win = clf.meta.num_frames
    fed = f"{multi.sample_fps:g} fps" if multi.sample_fps else "every frame"
    precision = f", {clf.meta.precision} parts" if clf.meta.precision != "fp32" else ""
    for name, src in pairs:
        where = "" if name == src.name else f" ({src.name})"
        err_console.print(
            f"stream {escape(printable(name))}{escape(printable(where))}: window {t_win} frames, fed at {fed}"
            f"{', stateful' if cfg.stateful else ''}{precision}",
            highlight=False,
        )
    out = Console(highlight=False)
    display = None
    try:
        if show or save:
            display = Display(show, save, multi.sample_fps or 25.0, [t.name for t in opened], t_win)
        with sigterm_as_interrupt():
            _loop(multi, display, json_out, out, rows, failures, events)
    except KeyboardInterrupt:
        pass
    finally:
        ends = multi.close(wait=False)  # a camera stuck in a read does not hold up the sinks' flush
        sources = {name: src.name for name, src in pairs}
        if display:
            display.close()
        for end in ends:
            err_console.print(f"{escape(printable(end.name))}: {end.stats.summary()}", highlight=False)
            if json_out:
                print(
                    json_line(
                        {
                            "stream": end.name,
                            "source": sources[end.name],
                            "summary": end.stats.to_dict(),
                            "error": None if end.error is None else str(end.error),
                        }
                    ),
                    flush=True,
                )
    return failures


def _loop(multi, display, json_out: bool, out: Console, rows: RowSink | None, failures: list[str], events=None) -> None:
    handles = {h.id: h for h in multi.handles}
    for tick in multi.ticks():
        for pred in tick.predictions:
            if display:
                display.update(pred, handles[pred.stream_id].fps())
            if pred.ready:
                row = pred.to_dict(live=handles[pred.stream_id].live)  # the sinks' record (stream.py)
                if rows is not None:
                    rows(row)
                if events is not None:  # event_output.EventPrinter: events instead of prediction lines
                    events.prediction(pred, live=handles[pred.stream_id].live)
                elif json_out:
                    print(json_line(row), flush=True)
                else:
                    stream_line(row, out)
        for end in tick.ended:
            if events is not None:
                events.end(end.name)
            if end.error is not None:
                _fail(end.name, handles[end.stream_id].source.name, str(end.error), rows, failures)
        if display and tick.predictions and not display.render():
            return
