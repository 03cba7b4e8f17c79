"""vc-run's stream mode: each source in turn, a line (or JSON line) per prediction, a summary at the end.

Ctrl-C, q or Esc stop the current source cleanly: the summary still prints, later sources
are skipped, and the exit code only reflects sources that failed.
"""

from __future__ import annotations

from rich.console import Console

from lrcn.runtime.console import err_console
from lrcn.core.errors import LrcnError, VideoError
from lrcn.core.paths import STREAM_TIMEOUT_S
from lrcn.runtime.output import error_row, json_line, stream_line
from lrcn.runtime.sources import FileSource, expand_inputs, is_live, open_source
from lrcn.runtime.stream import StreamConfig


def open_targets(sources: list[str], reconnect: int,
                 timeout_s: float = STREAM_TIMEOUT_S) -> list[tuple[str, object | None, str | None]]:
    """(name, FrameSource, None) per camera, URL or video file; (input, None, error) where it fails.

    Cameras and URLs open here, before the model loads, so one that cannot open fails first
    and alone; their capture threads keep only the newest frame until their turn comes.
    """
    targets = []
    for s in sources:
        try:
            if is_live(s):
                targets.append((s, open_source(s, reconnect=reconnect, timeout_s=timeout_s), None))
            else:
                targets += [(str(f), FileSource(f, timeout_s=timeout_s), None) for f in expand_inputs(s)]
        except LrcnError as e:
            targets.append((s, None, str(e)))
    return targets


def close_targets(targets) -> None:
    for _, src, _ in targets:
        if src is not None:
            src.close()


def _label(pred, num_frames: int) -> str:
    if pred.ready:
        return f"{pred.shown_label} {pred.probability:.2f}"
    return f"warming up {pred.index + 1}/{num_frames}"


def _stream_one(clf, target: str, source, cfg: StreamConfig, display, json_out: bool, out: Console,
                rows: list[dict]) -> bool:
    """Stream one source until it ends; True when the user stopped (q, Esc, Ctrl-C). Raises LrcnError."""
    t = clf.meta.num_frames
    stream = clf.stream(source, cfg)
    fed = f"{stream.sample_fps:g} fps" if stream.sample_fps else "every frame"
    precision = f", {clf.meta.precision} parts" if clf.meta.precision != "fp32" else ""
    err_console.print(f"stream {stream.source.name}: window {t} frames, fed at {fed}"
                      f"{', stateful' if cfg.stateful else ''}{precision}", highlight=False)
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


def run_streams(clf, targets, cfg: StreamConfig, *, show: bool = False, save: str | None = None,
                json_out: bool = False) -> tuple[list[dict], list[str]]:
    """Stream every target of `open_targets` in turn, then close them all.

    Returns (rows of predictions and errors, failure messages).
    """
    from lrcn.runtime.display import Display

    rate = clf.meta.sample_fps if cfg.sample_fps is None else cfg.sample_fps
    display = Display(show, save, rate or 25.0) if show or save else None
    rows: list[dict] = []
    failures: list[str] = []
    out = Console(highlight=False)
    try:
        for target, source, error in targets:
            try:
                if error:
                    raise LrcnError(error)
                if _stream_one(clf, target, source, cfg, display, json_out, out, rows):
                    break
            except KeyboardInterrupt:  # while a source was opening
                break
            except LrcnError as e:
                failures.append(str(e))
                rows.append(error_row(target, str(e)))
                err_console.print(f"[bold red]error:[/] {e}", highlight=False)
    finally:
        close_targets(targets)
        if display:
            display.close()
    return rows, failures
