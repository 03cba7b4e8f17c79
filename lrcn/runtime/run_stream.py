"""vc-run's stream mode: each source in turn, a line (or JSON line) per prediction, a summary at the end.

Ctrl-C, q or Esc stop the current source cleanly: the summary still prints, later sources
are skipped, and the exit code only reflects sources that failed.
"""

from __future__ import annotations

from rich.console import Console

from lrcn.runtime.console import err_console
from lrcn.runtime.errors import LrcnError, VideoError
from lrcn.runtime.output import error_row, json_line, stream_line
from lrcn.runtime.sources import expand_inputs, is_live
from lrcn.runtime.stream import StreamConfig


def _targets(sources: list[str]) -> list[tuple[str, str | None]]:
    """(target, None) per camera, URL or video file; (input, error) for an input that names no video."""
    targets = []
    for s in sources:
        if is_live(s):
            targets.append((s, None))
            continue
        try:
            targets += [(str(f), None) for f in expand_inputs(s)]
        except LrcnError as e:
            targets.append((s, str(e)))
    return targets


def _label(pred, num_frames: int) -> str:
    if pred.ready:
        return f"{pred.shown_label} {pred.probability:.2f}"
    return f"warming up {pred.index + 1}/{num_frames}"


def _stream_one(clf, target: str, cfg: StreamConfig, reconnect: int, display, json_out: bool, out: Console,
                rows: list[dict]) -> bool:
    """Stream one source until it ends; True when the user stopped (q, Esc, Ctrl-C). Raises LrcnError."""
    t = clf.meta.num_frames
    stream = clf.stream(target, cfg, reconnect=reconnect)
    fed = f"{stream.sample_fps:g} fps" if stream.sample_fps else "every frame"
    err_console.print(f"stream {stream.source.name}: window {t} frames, fed at {fed}"
                      f"{', stateful' if cfg.stateful else ''}", highlight=False)
    try:
        for pred in stream:
            if display and not display.update(pred.frame, _label(pred, t), stream.stats.fps):
                return True
            if pred.ready:
                row = pred.to_dict(stream.source.name)
                rows.append(row)
                if json_out:
                    print(json_line(row), flush=True)
                else:
                    stream_line(row, out)
    except KeyboardInterrupt:
        return True
    finally:
        stream.close()
        err_console.print(f"{stream.source.name}: {stream.stats.summary()}", highlight=False)
    if not stream.source.live and stream.stats.predictions == 0:
        raise VideoError(f"{target}: ended after {stream.stats.processed} sampled frames, before the window of "
                         f"{t} filled (try --sample-fps 0, or clip mode)")
    return False


def run_streams(clf, sources: list[str], cfg: StreamConfig, *, reconnect: int = 5, show: bool = False,
                save: str | None = None, json_out: bool = False) -> tuple[list[dict], list[str]]:
    """Stream every source in turn; returns (rows of predictions and errors, failure messages)."""
    from lrcn.runtime.display import Display

    targets = _targets(sources)
    if save and len(targets) > 1:
        raise ValueError(f"--save writes one video; got {len(targets)} sources")
    rate = clf.meta.sample_fps if cfg.sample_fps is None else cfg.sample_fps
    display = Display(show, save, rate or 25.0) if show or save else None
    rows: list[dict] = []
    failures: list[str] = []
    out = Console(highlight=False)
    try:
        for target, error in targets:
            try:
                if error:
                    raise LrcnError(error)
                if _stream_one(clf, target, cfg, reconnect, display, json_out, out, rows):
                    break
            except KeyboardInterrupt:  # while a source was opening
                break
            except LrcnError as e:
                failures.append(str(e))
                rows.append(error_row(target, str(e)))
                err_console.print(f"[bold red]error:[/] {e}", highlight=False)
    finally:
        if display:
            display.close()
    return rows, failures
