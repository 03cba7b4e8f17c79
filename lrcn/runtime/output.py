"""What vc-run prints and writes: a table for people, JSON lines and CSV for machines."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

CSV_COLUMNS = ("source", "label", "probability", "top_k", "clips", "frames", "ms", "error")


def error_row(source: str, message: str) -> dict:
    return {"source": source, "error": message}


def format_top_k(top: list) -> str:
    return "  ".join(f"{n} {p:.3f}" for n, p in top)


def results_table(rows: list[dict]) -> Table:
    """One row per input: file, top-1, probability, top-k, ms (or the error)."""
    table = Table(show_edge=False, pad_edge=False, header_style="bold")
    for col, justify in (("file", "left"), ("top-1", "left"), ("prob", "right"), ("top-k", "left"), ("ms", "right")):
        table.add_column(col, justify=justify, overflow="fold")
    for r in rows:
        if "error" in r:
            table.add_row(r["source"], "[red]error[/]", "", r["error"], "")
        else:
            table.add_row(r["source"], r["label"], f"{r['probability']:.3f}", format_top_k(r["top_k"]),
                          f"{r['ms']['total']:.0f}")
    return table


def json_line(row: dict) -> str:
    return json.dumps(row, separators=(",", ":"))


def write_csv(path: str | Path, rows: list[dict]) -> None:
    """One line per input; top_k as "label:prob;label:prob"; ms is the total."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        w.writeheader()
        for r in rows:
            w.writerow({
                "source": r["source"], "label": r.get("label", ""), "probability": r.get("probability", ""),
                "top_k": ";".join(f"{n}:{p}" for n, p in r.get("top_k", [])),
                "clips": r.get("clips", ""), "frames": r.get("frames", r.get("frame", "")),
                "ms": r["ms"]["total"] if isinstance(r.get("ms"), dict) else r.get("ms", ""),
                "error": r.get("error", ""),
            })


def stream_line(d: dict, console: Console) -> None:
    """One human-readable line per stream prediction."""
    label = "[yellow]uncertain[/]" if d["uncertain"] else f"[bold]{d['label']}[/]"
    name = f"{escape(d['stream']):<12} " if d.get("stream") else ""
    latency = f", latency {d['latency_ms']:.0f} ms" if "latency_ms" in d else ""
    console.print(f"{name}{d['t']:8.2f}s  #{d['frame']:<6} {label} {d['probability']:.3f}   "
                  f"{format_top_k(d['top_k'])}   {d['ms']:.1f} ms{latency}", highlight=False)
