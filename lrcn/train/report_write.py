"""Writing the reports: report.md, report.html and compare.png of a comparison, a run's own report.html.

Above `report` (loading and comparing runs) and the two page builders, which import `report`'s
data types; keeping the writers here leaves that arrow one way.
"""

from __future__ import annotations

from pathlib import Path

from lrcn.core.atomic import write_text
from lrcn.train.report import compare, load_run, load_runs, report_folder
from lrcn.train.report_html import comparison_page, run_page
from lrcn.train.report_md import comparison_markdown


def write_report(paths: list[Path], out: Path | None = None, sort: str = "test_accuracy") -> list[Path]:
    """report.md, report.html and compare.png in `report_folder(out)`, each written atomically."""
    from lrcn.train.plots import plot_overlay  # matplotlib: only when a report is written

    runs = load_runs(paths)
    cmp = compare(runs, sort)
    out = report_folder(runs, Path(out) if out else None)
    overlay = out / "compare.png"
    has_overlay = plot_overlay(cmp.runs, overlay) if len(runs) > 1 else False
    write_text(out / "report.md", comparison_markdown(cmp, out, overlay if has_overlay else None))
    write_text(out / "report.html", comparison_page(cmp, out, overlay if has_overlay else None))
    return [out / "report.md", out / "report.html"]


def write_run_report(run_dir: str | Path) -> Path:
    """The run's own report.html (training calls this on the folder it made), written atomically."""
    run = load_run(run_dir)
    path = run.path / "report.html"
    write_text(path, run_page(run))
    return path
