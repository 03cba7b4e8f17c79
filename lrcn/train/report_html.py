"""HTML pages for reports: one file each, images as data URIs, inline CSS, no script.

They open offline, from a mail attachment or a copied folder, with nothing to fetch.
"""

from __future__ import annotations

import base64
import os
from datetime import datetime
from html import escape
from pathlib import Path
from urllib.parse import quote

import lrcn
from lrcn.core.text import printable
from lrcn.train.report import LABELS, RESULTS, Comparison, Run, fmt

MAX_PNG_BYTES = 8 * 2**20
"""report.html embeds a run's PNG only up to this size (ours are ~50 kB)."""

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1200px;
 padding:0 16px;color:#1d232a;background:#fff}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #d8dee4}
h3{font-size:15px;margin-bottom:6px}.meta{color:#57606a;font-size:12px}
.scroll{overflow-x:auto}table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #d8dee4;padding:3px 8px;text-align:left;white-space:nowrap}
th{background:#f3f5f7;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:#e6f6e6;font-weight:600}.badge{color:#1a7f37;font-weight:700}
.imgs{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}.imgs img{max-width:100%;height:auto;
 border:1px solid #d8dee4}.bar{display:inline-block;height:9px;background:#4c8bf5;vertical-align:middle}
.missing{color:#8c959f;font-style:italic}details{margin:8px 0}summary{cursor:pointer;color:#0969da}
"""


def _e(value: object) -> str:
    """Data into HTML: one line of printable text, HTML-escaped (quotes too)."""
    return escape(printable(value))


CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
"""No script, no fetch: the page shows its own inline CSS and embedded images, nothing else."""


def _href(path: Path, out: Path) -> str:
    """A relative link, percent-encoded: a folder named `javascript:...` cannot become a scheme."""
    return escape(quote(Path(os.path.relpath(path, out)).as_posix()))


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def png_bytes(path: Path, folder: Path) -> bytes | None:
    """A PNG to embed: a regular file (not a symlink) directly in `folder`, a PNG, under the size cap."""
    try:
        if (
            path.is_symlink()
            or not path.is_file()
            or path.resolve().parent != folder.resolve()
            or path.stat().st_size > MAX_PNG_BYTES
        ):
            return None
        data = path.read_bytes()
    except OSError:
        return None
    return data if data.startswith(b"\x89PNG\r\n\x1a\n") else None


def _img(path: Path, alt: str) -> str:
    png = png_bytes(path, path.parent)
    if png is None:
        return f'<p class="missing">no {_e(path.name)}</p>'
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">'


def _cell(key: str, value) -> str:
    num = isinstance(value, (int, float)) and not isinstance(value, bool)
    return f'<td class="num">{_e(fmt(key, value))}</td>' if num else f"<td>{_e(fmt(key, value))}</td>"


def _table(headers: list[str], rows: list[str], cls: str = "") -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    return f'<div class="scroll"><table{cls}><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'


def _kv(pairs: list[tuple[str, str, object]]) -> str:
    """A two-column table of (label, key, value); the key picks the number format."""
    rows = "".join(f"<tr><th>{_e(label)}</th>{_cell(key, v)}</tr>" for label, key, v in pairs)
    return f"<table><tbody>{rows}</tbody></table>"


def _per_class(run: Run) -> str:
    acc = run.per_class.get("accuracy") or {}
    if not acc:
        return '<p class="missing">no per_class.json</p>'
    matrix = run.per_class.get("confusion") or []
    rows = []
    for i, (name, a) in enumerate(acc.items()):
        n = sum(matrix[i]) if i < len(matrix) else None
        bar = f'<span class="bar" style="width:{round(100 * a)}px"></span>' if a is not None else ""
        rows.append(f"<tr><td>{_e(name)}</td>{_cell('accuracy', a)}{_cell('n', n)}<td>{bar}</td></tr>")
    return _table(["class", "test accuracy", "test clips", ""], rows)


def _figures(run: Run) -> str:
    return (
        f'<div class="imgs">{_img(run.path / "curves.png", f"{run.name} training curves")}'
        f"{_img(run.path / 'confusion.png', f'{run.name} confusion matrix')}</div>"
    )


def _anchor(name: str) -> str:
    return "run-" + "".join(c if c.isalnum() else "-" for c in name)


def comparison_page(cmp: Comparison, out: Path, overlay: Path | None) -> str:
    best = cmp.runs[cmp.best]
    headers = ["run"] + [LABELS[k] for k in cmp.columns]
    rows = []
    for i, (run, row) in enumerate(zip(cmp.runs, cmp.rows())):
        mark = ' <span class="badge">★ best</span>' if i == cmp.best else ""
        name = f'<td><a href="#{_anchor(run.name)}">{_e(run.name)}</a>{mark}</td>'
        rows.append(
            f"<tr{' class=best' if i == cmp.best else ''}>{name}"
            + "".join(_cell(k, row[k]) for k in cmp.columns)
            + "</tr>"
        )
    shared = ", ".join(f"{LABELS[k]} {_e(fmt(k, v))}" for k, v in cmp.shared.items() if v not in (None, []))
    parts = [
        f"<h1>lrcn report: {len(cmp.runs)} run{'s' if len(cmp.runs) != 1 else ''}</h1>",
        f'<p class="meta">made {datetime.now():%Y-%m-%d %H:%M} by lrcn {lrcn.__version__}; '
        f"sorted by {_e(LABELS[cmp.sort])}; best run: <b>{_e(best.name)}</b></p>",
        _table(headers, rows),
        f"<p><b>Same in all runs:</b> {shared}</p>" if shared else "",
        _img(overlay, "validation curves of all runs") if overlay else "",
    ]
    for run in cmp.runs:
        link = run.path / "report.html"
        ref = f' <a href="{_href(link, out)}">run report</a>' if link.is_file() else ""
        varying = [(LABELS[k], k, run.value(k)) for k in cmp.columns if k not in dict(RESULTS)]
        results = ", ".join(f"{LABELS[k]} {_e(fmt(k, run.value(k)))}" for k, _ in RESULTS)
        parts += [
            f'<h2 id="{_anchor(run.name)}">{_e(run.name)}{ref}</h2>',
            f'<p class="meta">{_e(str(run.path))}</p>',
            (_kv(varying) if varying else ""),
            f"<p>{results}</p>",
            _figures(run),
            _per_class(run),
        ]
    return _page(f"lrcn report: {len(cmp.runs)} runs", "\n".join(p for p in parts if p))


def _timings(run: Run) -> str:
    h = run.history
    secs = [e.get("seconds") or 0.0 for e in h]
    rate = [e["clips_per_s"] for e in h if e.get("clips_per_s")]
    summary = _kv(
        [
            ("training time (s)", "train_seconds", run.metrics.get("train_seconds")),
            ("epochs", "epochs", run.metrics.get("epochs")),
            ("mean s/epoch", "train_seconds", sum(secs) / len(secs) if secs else None),
            ("mean train clips/s", "train_seconds", sum(rate) / len(rate) if rate else None),
        ]
    )
    keys = ["epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds", "clips_per_s"]
    rows = [
        "<tr>"
        + "".join(_cell("train_seconds" if k in ("seconds", "clips_per_s") else k, e.get(k)) for k in keys)
        + "</tr>"
        for e in h
    ]
    table = _table(["epoch", "train loss", "train acc", "val loss", "val acc", "lr", "seconds", "clips/s"], rows)
    return summary + (f"<details open><summary>per epoch</summary>{table}</details>" if h else "")


def _config(run: Run) -> str:
    parts = []
    for section in ("model", "data", "train", "preprocess"):
        values = run.config.get(section) or {}
        if values:
            parts.append(f"<div><h3>{section}</h3>" + _kv([(k, k, v) for k, v in values.items()]) + "</div>")
    names = run.config.get("class_names") or []
    return f'<div class="imgs">{"".join(parts)}</div><h3>classes ({len(names)})</h3><p>{_e(", ".join(names))}</p>'


def _skipped(run: Run) -> str:
    if not run.skipped:
        return "<p>none</p>"
    rows = [
        f"<tr><td>{_e(str(s.get('path', '')))}</td><td>{_e(str(s.get('reason', '')))}</td></tr>" for s in run.skipped
    ]
    return _table(["file", "reason"], rows)


def run_page(run: Run) -> str:
    m = run.metrics
    results = _kv(
        [(label, key, m.get(key)) for key, label in RESULTS]
        + [
            (label, key, run.value(key))
            for key, label in [
                ("num_train", "train clips"),
                ("num_val", "val clips"),
                ("num_test", "test clips"),
                ("sample_fps", "sample fps"),
                ("skipped_files", "skipped files"),
            ]
        ]
    )
    created = run.config.get("created", "")
    version = run.config.get("lrcn_version", "")
    body = "\n".join(
        [
            f"<h1>{_e(run.name)}</h1>",
            f'<p class="meta">{_e(str(run.path))}; created {_e(str(created))} by lrcn {_e(str(version))}</p>',
            "<h2>Results</h2>",
            results,
            "<h2>Curves and confusion matrix</h2>",
            _figures(run),
            "<h2>Per-class accuracy</h2>",
            _per_class(run),
            "<h2>Timings</h2>",
            _timings(run),
            f"<h2>Skipped files ({len(run.skipped)})</h2>",
            _skipped(run),
            "<h2>Config</h2>",
            _config(run),
        ]
    )
    return _page(f"lrcn run {run.name}", body)
