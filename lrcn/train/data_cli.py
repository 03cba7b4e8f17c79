"""`vc-data`: make datasets. `vc-data synth OUT` writes the built-in synthetic action set."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from lrcn.runtime.console import one_line_errors

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)


@app.callback()
def _root() -> None:
    """Dataset tools."""


@app.command()
def synth(
    out: Annotated[str, typer.Argument(help="Folder to write root/<class>/<video>.avi into.")],
    classes: Annotated[int, typer.Option(help="Number of motion classes (2..10).")] = 10,
    clips_per_class: Annotated[
        int, typer.Option(help="Videos per class (200: fewer clips cost convlstm accuracy on this set; see README).")
    ] = 200,
    frames: Annotated[int, typer.Option(help="Frames per video (30 fps).")] = 30,
    size: Annotated[int, typer.Option(help="Video width and height.")] = 128,
    seed: Annotated[int, typer.Option(help="Same seed, same videos.")] = 0,
) -> None:
    """Write moving-shape videos whose class is the motion (never a single frame)."""
    with one_line_errors():
        from rich.progress import Progress

        from lrcn.train.synth import CLASSES, SynthConfig, make_dataset

        cfg = SynthConfig(classes=classes, clips_per_class=clips_per_class, frames=frames, size=size, seed=seed)
        t0 = time.perf_counter()
        with Progress(transient=True) as prog:
            task = prog.add_task("writing videos", total=cfg.classes * cfg.clips_per_class)
            paths = make_dataset(out, cfg, progress=lambda: prog.advance(task))
        typer.echo(
            f"wrote {len(paths)} videos of {cfg.classes} classes ({', '.join(CLASSES[: cfg.classes])}) "
            f"to {out} in {time.perf_counter() - t0:.1f}s"
        )


@app.command()
def long(
    out: Annotated[str, typer.Argument(help="Video file to write (.avi, MJPG).")],
    classes: Annotated[
        str, typer.Option(help="Comma-separated classes, one segment each, in this order.")
    ] = "move_left,grow,rotate_cw,move_right",
    seconds: Annotated[float, typer.Option(help="Seconds per segment.")] = 4.0,
    size: Annotated[int, typer.Option(help="Video width and height.")] = 128,
    seed: Annotated[int, typer.Option(help="Same seed, same video.")] = 0,
) -> None:
    """Write one long video of synthetic segments of known classes, and OUT.segments.json with their times."""
    with one_line_errors():
        from lrcn.train.synth import make_long_video

        known = make_long_video(
            out, [c.strip() for c in classes.split(",") if c.strip()], seconds=seconds, size=size, seed=seed
        )
        typer.echo(f"wrote {out} ({known[-1]['end']:g} s, {len(known)} segments) and {out}.segments.json")


if __name__ == "__main__":
    app()
