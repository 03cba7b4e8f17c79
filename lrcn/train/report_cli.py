"""`vc-report`: compare finished runs in one table; writes report.md and report.html."""

from __future__ import annotations

from typing import Annotated

import typer

from lrcn.runtime.console import one_line_errors

app = typer.Typer(add_completion=False, help=__doc__, no_args_is_help=True)


@app.command()
def main(
    runs: Annotated[
        list[str],
        typer.Argument(
            metavar="RUN_DIR",
            help="Run folders or globs (artifacts/runs/*); a sweep folder stands for the runs in it.",
            show_default=False,
        ),
    ],
    out: Annotated[
        str | None,
        typer.Option(
            help="Where to write (default: the sweep folder when the runs are one "
            "vc-train sweep, else a new artifacts/reports/report-<time>)."
        ),
    ] = None,
    sort: Annotated[
        str,
        typer.Option(
            help="Column to sort by: test_accuracy, test_loss, train_seconds, lr, "
            "frames, ... (accuracies descending, the rest ascending)."
        ),
    ] = "test_accuracy",
) -> None:
    """Write one comparison table across runs, each run's curves, confusion matrix and per-class accuracy."""
    with one_line_errors():
        from pathlib import Path

        from lrcn.core.text import printable
        from lrcn.train.report import find_runs
        from lrcn.train.report_write import write_report

        paths = write_report(find_runs(runs), Path(out) if out else None, sort)
        for p in paths:
            typer.echo(printable(p))
        from lrcn.train.folds_report import SUMMARY, show

        for r in runs:  # a k-fold parent folder: its fold summary too
            if (Path(r) / SUMMARY).is_file() or (Path(r) / "fold-1" / "metrics.json").is_file():
                for line in show(r):
                    typer.echo(printable(line))
        from lrcn.train.search import ranking_lines

        for r in runs:  # a --budget search (or a nested one): the ranking of the configurations tried
            for line in ranking_lines(Path(r)):
                typer.echo(printable(line))


if __name__ == "__main__":
    app()
