"""What vc-run prints and writes: a table for people, JSON lines and CSV for machines.

The rows themselves are the library's (`classifier.Prediction.to_dict`, `classifier.error_row`,
`stream.prediction_record`); CSV cells are made inert by `core.text.csv_text`."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from lrcn.core.atomic import atomic_open
from lrcn.core.text import csv_text, printable

CSV_COLUMNS = ("source", "label", "probability", "top_k", "clips", "frames", "ms", "error")


def format_top_k(top: list) -> str:
    return "  ".join(f"{printable(n)} {p:.3f}" for n, p in top)


def plain(value: object) -> Text:
    """Data (file names, labels, messages) for a Rich table: a Text, so never markup, and printable."""
    return Text(printable(value))


def results_table(rows: list[dict]) -> Table:
    """One row per input: file, top-1, probability, top-k, ms (or the error)."""
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    columns: tuple[tuple[str, Literal["left", "right"]], ...] = (
        ("file", "left"),
        ("top-1", "left"),
        ("prob", "right"),
        ("top-k", "left"),
        ("ms", "right"),
    )
    for col, justify in columns:
        table.add_column(col, justify=justify, overflow="fold")
    for r in rows:
        if "error" in r:
            table.add_row(plain(r["source"]), Text("error", style="red"), "", plain(r["error"]), "")
        else:
            table.add_row(
                plain(r["source"]),
                plain(r["label"]),
                f"{r['probability']:.3f}",
                plain(format_top_k(r["top_k"])),
                f"{r['ms']['total']:.0f}",
            )
    return table


def json_line(row: dict) -> str:
    return json.dumps(row, separators=(",", ":"))


def csv_row(r: dict) -> dict:
    """A result or prediction row as CSV_COLUMNS: top_k as "label:prob;label:prob", ms the total, cells inert."""
    return {
        k: csv_text(v)
        for k, v in {
            "source": r["source"],
            "label": r.get("label", ""),
            "probability": r.get("probability", ""),
            "top_k": ";".join(f"{n}:{p}" for n, p in r.get("top_k", [])),
            "clips": r.get("clips", ""),
            "frames": r.get("frames", r.get("frame", "")),
            "ms": r["ms"]["total"] if isinstance(r.get("ms"), dict) else r.get("ms", ""),
            "error": r.get("error", ""),
        }.items()
    }


@contextmanager
def csv_rows(path: str | Path) -> Iterator[Callable[[dict], None]]:
    """Yield `add(row)`, which writes one row at once (a stream's rows are never all kept in memory).

    The rows go to a temp file beside `path` that replaces it when the block ends without error
    (`core.atomic`): an earlier file at `path` is never half-written, and a run that fails leaves it as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, lineterminator="\r\n")
        w.writeheader()
        yield lambda r: w.writerow(csv_row(r))


def write_csv(path: str | Path, rows: list[dict]) -> None:
    """One line per input (`csv_row`), written atomically: an earlier file at `path` is replaced whole once
    all rows are written, never left half-written (the CLI says when it replaced one)."""
    with csv_rows(path) as add:
        for r in rows:
            add(r)


def stream_line(d: dict, console: Console) -> None:
    """One human-readable line per stream prediction."""
    label = "[yellow]uncertain[/]" if d["uncertain"] else f"[bold]{escape(printable(d['label']))}[/]"
    name = f"{escape(printable(d['stream'])):<12} " if d.get("stream") else ""
    latency = f", latency {d['latency_ms']:.0f} ms" if "latency_ms" in d else ""
    console.print(
        f"{name}{d['t']:8.2f}s  #{d['frame']:<6} {label} {d['probability']:.3f}   "
        f"{escape(format_top_k(d['top_k']))}   {d['ms']:.1f} ms{latency}",
        highlight=False,
    )
