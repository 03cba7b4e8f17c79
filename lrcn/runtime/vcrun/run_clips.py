"""vc-run's clip mode over files, folders and globs: a progress bar, then one row per file."""

from __future__ import annotations

import sys
from collections.abc import Callable, Generator
from contextlib import closing
from typing import TextIO

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lrcn.core.errors import LrcnError
from lrcn.core.text import printable
from lrcn.runtime.classifier import error_row
from lrcn.runtime.console import err_console
from lrcn.runtime.sources import expand_inputs
from lrcn.runtime.vcrun.output import json_line, results_table


def _serial(clf, files: list[str], clips: int) -> Generator[dict, None, None]:
    for name in files:
        try:
            yield clf.predict(name, clips=clips).to_dict()
        except LrcnError as e:
            yield error_row(name, str(e))


def run_clips(
    clf,
    sources: list[str],
    *,
    clips: int = 1,
    json_out: bool = False,
    workers: int = 1,
    threads: int | None = None,
    classify: Callable[[list[str]], Generator[dict, None, None]] | None = None,
    out: TextIO | None = None,
) -> tuple[list[dict], list[str]]:
    """Classify every file; returns (rows in input order, failure messages). Nothing raises per file.

    `workers` > 1 classifies in that many processes (lrcn.runtime.parallel); rows keep input order.
    `classify` (files -> one row per file, in their order) replaces `clf` and the local workers:
    how `--ray` runs the files on a cluster (lrcn.runtime.vcrun.ray_archive).
    `out`: where the rows go (the JSON lines or the table); sys.stdout as it is at the call if None.
    """
    out = out or sys.stdout
    rows: list[dict] = []
    failures: list[str] = []
    files: list[tuple[str, str | None]] = []  # (file, why it cannot be read)
    for s in sources:
        try:
            files += [(str(f), None) for f in expand_inputs(s)]
        except LrcnError as e:
            files.append((s, str(e)))
    progress = Progress(
        TextColumn("classify"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[name]}", markup=False),
        console=err_console,
        transient=True,
        disable=len(files) < 2 or not err_console.is_terminal,
    )
    todo = [name for name, error in files if error is None]
    if classify is not None:
        results = classify(todo)
    elif workers > 1 and len(todo) > 1:
        from lrcn.runtime.parallel import classify_parallel

        results = classify_parallel(clf, todo, clips=clips, workers=workers, threads=threads)
    else:
        results = _serial(clf, todo, clips)
    with progress, closing(results):  # closing: a worker pool stops with the loop, even on Ctrl-C
        task = progress.add_task("classify", total=len(files), name="")
        for name, error in files:
            progress.update(task, name=printable(name))
            row = next(results) if error is None else error_row(name, error)
            if "error" in row:
                failures.append(row["error"])
            rows.append(row)
            if json_out:  # the line and its newline in one write, flushed: a reader sees whole rows as they come
                out.write(json_line(row) + "\n")
                out.flush()
            progress.advance(task)
    if not json_out:
        Console(file=out, highlight=False).print(results_table(rows))
    for msg in failures:
        err_console.print(f"[bold red]error:[/] {escape(printable(msg))}", highlight=False)
    if failures:
        err_console.print(
            f"classified {len(rows) - len(failures)} of {len(rows)}; {len(failures)} failed", highlight=False
        )
    return rows, failures
