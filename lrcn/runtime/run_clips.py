"""vc-run's clip mode over files, folders and globs: a progress bar, then one row per file."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lrcn.runtime.console import err_console
from lrcn.runtime.errors import LrcnError
from lrcn.runtime.output import error_row, json_line, results_table
from lrcn.runtime.sources import expand_inputs


def run_clips(clf, sources: list[str], *, clips: int = 1, json_out: bool = False) -> tuple[list[dict], list[str]]:
    """Classify every file; returns (rows in input order, failure messages). Nothing raises per file."""
    rows, failures, files = [], [], []
    for s in sources:
        try:
            files += [(str(f), None) for f in expand_inputs(s)]
        except LrcnError as e:
            files.append((s, str(e)))
    progress = Progress(TextColumn("classify"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("{task.fields[name]}"), console=err_console, transient=True,
                        disable=len(files) < 2 or not err_console.is_terminal)
    with progress:
        task = progress.add_task("classify", total=len(files), name="")
        for name, error in files:
            progress.update(task, name=name)
            if error is None:
                try:
                    row = clf.predict(name, clips=clips).to_dict()
                except LrcnError as e:
                    error = str(e)
            if error is not None:
                row = error_row(name, error)
                failures.append(error)
            rows.append(row)
            if json_out:
                print(json_line(row), flush=True)
            progress.advance(task)
    if not json_out:
        Console(highlight=False).print(results_table(rows))
    for msg in failures:
        err_console.print(f"[bold red]error:[/] {msg}", highlight=False)
    if failures:
        err_console.print(f"classified {len(rows) - len(failures)} of {len(rows)}; {len(failures)} failed",
                          highlight=False)
    return rows, failures
