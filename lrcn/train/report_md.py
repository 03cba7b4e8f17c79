"""report.md: the comparison table and per-run sections; images are linked by relative path."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import quote

from lrcn.core.text import printable
from lrcn.train.report import LABELS, RESULTS, Comparison, Run, fmt

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}()#+!|~>])")


def _cell(text: object) -> str:
    """One interpolated value: one line (control characters and newlines become "?"), HTML escaped,
    markdown metacharacters backslash-escaped, so a run or class name can never start a line,
    a tag, a link or a table cell of its own."""
    text = printable(text).replace("&", "&amp;").replace("<", "&lt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _rel(path: Path, out: Path) -> str:
    """A relative link, percent-encoded (spaces, brackets, `javascript:` all become inert)."""
    return quote(Path(os.path.relpath(path, out)).as_posix())


def _per_class(run: Run) -> list[str]:
    acc = run.per_class.get("accuracy") or {}
    if not acc:
        return []
    lines = ["| class | test accuracy |", "|---|---:|"]
    lines += [f"| {_cell(name)} | {fmt('accuracy', a)} |" for name, a in acc.items()]
    return lines + [""]


def comparison_markdown(cmp: Comparison, out: Path, overlay: Path | None) -> str:
    best = cmp.runs[cmp.best]
    numeric = {k for k in cmp.columns for r in cmp.runs if isinstance(r.value(k), (int, float))}
    lines = [
        f"# lrcn report: {len(cmp.runs)} run{'s' if len(cmp.runs) != 1 else ''}",
        "",
        f"Sorted by {LABELS[cmp.sort]}. Best run (**bold**, ★): **{_cell(best.name)}**.",
        "",
        "| run | " + " | ".join(LABELS[k] for k in cmp.columns) + " |",
        "|---|" + "|".join("---:" if k in numeric else "---" for k in cmp.columns) + "|",
    ]
    for i, (run, row) in enumerate(zip(cmp.runs, cmp.rows())):
        cells = [_cell(run.name)] + [_cell(fmt(k, row[k])) for k in cmp.columns]
        if i == cmp.best:
            cells = [f"**{c}**" for c in cells]
            cells[0] += " ★"
        lines.append("| " + " | ".join(cells) + " |")
    shared = ", ".join(f"{LABELS[k]} {_cell(fmt(k, v))}" for k, v in cmp.shared.items() if v not in (None, []))
    lines += ["", f"Same in all runs: {shared}." if shared else "", ""]
    if overlay:
        lines += [f"![validation curves of all runs]({_rel(overlay, out)})", ""]
    for run in cmp.runs:
        lines += [f"## {_cell(run.name)}", ""]
        varying = [f"{LABELS[k]} {_cell(fmt(k, run.value(k)))}" for k in cmp.columns if k not in dict(RESULTS)]
        if varying:
            lines += [", ".join(varying) + ".", ""]
        lines += [", ".join(f"{LABELS[k]} {_cell(fmt(k, run.value(k)))}" for k, _ in RESULTS) + ".", ""]
        for png, alt in (("curves.png", "curves"), ("confusion.png", "confusion matrix")):
            if (run.path / png).is_file():
                lines.append(f"![{_cell(run.name)} {alt}]({_rel(run.path / png, out)})")
        lines += [""] + _per_class(run)
    return "\n".join(lines).rstrip() + "\n"
