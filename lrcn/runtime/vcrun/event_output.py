"""What vc-run prints for events and sinks: a line per event record (or its JSON), a line per sink."""

from __future__ import annotations

import signal
import threading

from rich.console import Console

from lrcn.core.text import printable
from lrcn.runtime.console import err_console
from lrcn.runtime.event_media import EventMedia, MediaConfig
from lrcn.runtime.events import EventConfig
from lrcn.runtime.run_events import SINK_CLOSE_S, EventRouter
from lrcn.runtime.sinks import open_sinks
from lrcn.runtime.vcrun.output import json_line


def event_line(rec: dict, console: Console) -> None:
    """`door  start  fight  from 12.40s` / `door  end  fight  12.40s to 19.20s (6.80 s), peak 0.93, ...`."""
    from rich.markup import escape

    head = f"{escape(printable(rec['stream']))}  [bold]{rec['phase']:<5}[/] [bold]{escape(printable(rec['label']))}[/]"
    if rec["phase"] == "start":
        console.print(f"{head}  from {rec['start']:.2f}s  (peak {rec['peak']:.3f} so far)", highlight=False)
    else:
        console.print(
            f"{head}  {rec['start']:.2f}s to {rec['end']:.2f}s ({rec['duration']:.2f} s), "
            f"peak {rec['peak']:.3f}, mean {rec['mean']:.3f}, {rec['predictions']} predictions",
            highlight=False,
        )


def _interrupt(signum, frame):
    raise KeyboardInterrupt


class EventPrinter:
    """vc-run's events: sinks opened up front (a bad spec fails before the model loads), an EventRouter once
    the labels are known (`bind`), the records printed; `with` closes it (flushing the sinks) on any exit."""

    def __init__(
        self,
        config: EventConfig,
        sink_specs: list[str] | None = None,
        json_out: bool = False,
        media: MediaConfig | None = None,
    ):
        self.config, self.json_out, self.media_config = config, json_out, media
        self.media: EventMedia | None = None
        """`--media`: a clip and a snapshot per event (opened with the labels, in `bind`)."""
        self.sinks = open_sinks(sink_specs or [])
        self.router: EventRouter | None = None
        self.out = Console(highlight=False, soft_wrap=True)
        self.screen: Console | None = None
        """Set while a progress bar is live on the terminal that stdout also shows: lines go above the bar."""

    def bind(self, labels: list[str], *, keep_events: int | None = 0) -> EventPrinter:
        """Labels known: events can be detected. `keep_events`: ended events kept in `router.detector.events`
        (0 for live streams, where each is printed and sent as it ends; None keeps all, for one file's timeline)."""
        if self.media_config is not None:
            hold = self.config.min_event + 1.0  # a start record comes min_event after the event's start
            self.media = EventMedia(self.media_config, list(labels), hold_s=hold)
        self.router = EventRouter(
            labels,
            self.config,
            self.sinks,
            keep_events=keep_events,
            annotate=self.media.annotate if self.media is not None else None,
        )
        return self

    def __enter__(self) -> EventPrinter:
        """SIGTERM stops the run as Ctrl-C does (the engine ends its streams), so the sinks still flush."""
        self._old_term = None
        if threading.current_thread() is threading.main_thread():
            self._old_term = signal.signal(signal.SIGTERM, _interrupt)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.close()
        finally:
            if self._old_term is not None:
                signal.signal(signal.SIGTERM, self._old_term)

    def prediction(self, pred, *, stream: str | None = None, live: bool = False) -> None:
        assert self.router is not None, "bind() first"
        records = self.router.prediction(pred, stream=stream, live=live)
        if self.media is not None and getattr(pred, "frame", None) is not None:  # after: an end has set its clip's end
            self.media.frame(stream or pred.stream, pred.t, pred.frame, pred.probs, getattr(pred, "packets", None))
        self._print(records)

    def end(self, stream: str | None = None) -> None:
        assert self.router is not None, "bind() first"
        self._print(self.router.end(stream))

    def close(self, timeout: float = SINK_CLOSE_S) -> None:
        """End open events, flush the sinks within `timeout`, print each sink's counts (stderr; JSON rows too)."""
        if self.router is None:  # the run failed before the model loaded
            self.router = EventRouter([], self.config, self.sinks)
            timeout = 0.0
        elif self.sinks:
            err_console.print(f"flushing {len(self.sinks)} sink(s) (at most {timeout:g} s)", highlight=False)
        self._print(self.router.close(timeout))
        self.sinks = self.router.sinks = []  # closed once
        if self.media is not None:
            self._close_media()
        for s in self.router.summaries:
            colour = "red" if s.failed or s.dropped or s.unsent else "green"
            err_console.print(f"[{colour}]sink[/] {s.line()}", highlight=False)
            if self.json_out:
                print(json_line({"sink": s.name, "summary": s.to_dict()}), flush=True)

    def _close_media(self) -> None:
        media, self.media = self.media, None
        assert media is not None
        media.close()
        clips = sum(p.suffix == ".mp4" for p in media.written)
        line = f"media: {clips} clip(s), {len(media.written) - clips} snapshot(s) in {media.cfg.folder}"
        err_console.print(
            line
            + (
                f", {media.dropped} frame(s) not in a clip (event past 3000 frames or writer busy)"
                if media.dropped
                else ""
            )
        )
        for e in media.errors[:5]:
            err_console.print(f"[bold red]error:[/] media: {printable(e)}", highlight=False)

    def _print(self, records: list[dict]) -> None:
        for rec in records:
            if self.json_out and self.screen is not None:
                self.screen.print(json_line(rec), markup=False, highlight=False, soft_wrap=True)
            elif self.json_out:
                print(json_line(rec), flush=True)
            else:
                event_line(rec, self.screen or self.out)
