"""The timeline as one offline HTML page: inline SVG (label strip, events, a probability curve per class)
and the events table. No script, no external asset: it opens from a file anywhere."""

from __future__ import annotations

import math
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the type only: timeline.write_timeline imports this module, not the other way
    from lrcn.runtime.timeline import Timeline


PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")
W, LEFT, RIGHT = 960, 110, 20
STRIP_Y, STRIP_H, EVENT_Y, EVENT_H, CURVE_Y, CURVE_H = 30, 22, 64, 22, 106, 180
HEIGHT = CURVE_Y + CURVE_H + 40


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)] if i < len(PALETTE) else f"hsl({(i * 137) % 360},55%,55%)"


def _tick_step(duration: float) -> float:
    """A round step giving about 10 ticks."""
    raw = max(duration, 1e-3) / 10
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def _clock(s: float) -> str:
    s = max(0.0, s)
    return f"{int(s // 60)}:{s % 60:05.2f}" if s >= 60 else f"{s:.2f}s"


def svg(tl: Timeline) -> str:
    span = max(tl.duration, tl.times[-1] if tl.times else 0.0, 1e-3)
    plot_w = W - LEFT - RIGHT

    def x(t: float) -> float:
        return LEFT + plot_w * t / span

    idx = {name: i for i, name in enumerate(tl.labels)}
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{HEIGHT}" viewBox="0 0 {W} {HEIGHT}" '
        f'role="img" aria-label="timeline of {escape(tl.source)}" font-family="sans-serif" font-size="12">',
        f'<text x="{LEFT - 8}" y="{STRIP_Y + 15}" text-anchor="end">label / s</text>',
        f'<text x="{LEFT - 8}" y="{EVENT_Y + 15}" text-anchor="end">events</text>',
        f'<text x="{LEFT - 30}" y="{CURVE_Y + CURVE_H / 2 + 4}" text-anchor="end">probability</text>',
    ]
    for s in tl.seconds():
        if s["label"] is None:
            continue
        x0, x1 = x(s["second"]), x(min(s["second"] + 1, span))
        out.append(
            f'<rect class="second" x="{x0:.1f}" y="{STRIP_Y}" width="{max(x1 - x0, 0.5):.1f}" '
            f'height="{STRIP_H}" fill="{colour(idx[s["label"]])}"><title>{s["second"]} s: '
            f"{escape(s['label'])} {s['probability']:.2f}</title></rect>"
        )
    for e in tl.events:
        x0, x1 = x(e.start), x(e.end)
        out.append(
            f'<rect class="event" x="{x0:.1f}" y="{EVENT_Y}" width="{max(x1 - x0, 2):.1f}" height="{EVENT_H}" '
            f'rx="3" fill="{colour(idx[e.label])}" stroke="#222"><title>{escape(e.label)} '
            f"{_clock(e.start)} to {_clock(e.end)}, peak {e.peak:.2f}</title></rect>"
        )
        if x1 - x0 > 8 * len(e.label):
            out.append(f'<text x="{x0 + 4:.1f}" y="{EVENT_Y + 15}" fill="#fff">{escape(e.label)}</text>')

    def y(p: float) -> float:
        return CURVE_Y + CURVE_H * (1 - p)

    out.append(f'<rect x="{LEFT}" y="{CURVE_Y}" width="{plot_w}" height="{CURVE_H}" fill="none" stroke="#999"/>')
    for p in (0.0, 0.5, 1.0):
        out.append(f'<text x="{LEFT - 4}" y="{y(p) + 4:.1f}" text-anchor="end" fill="#555">{p:g}</text>')
    ty = y(tl.config.threshold)
    out.append(
        f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{ty:.1f}" y2="{ty:.1f}" stroke="#555" '
        f'stroke-dasharray="4 3"><title>threshold {tl.config.threshold:g}</title></line>'
    )
    for i, name in enumerate(tl.labels):
        pts = " ".join(f"{x(t):.1f},{y(float(p[i])):.1f}" for t, p in zip(tl.times, tl.probs))
        if pts:
            out.append(
                f'<polyline class="curve" points="{pts}" fill="none" stroke="{colour(i)}" stroke-width="1.5">'
                f"<title>{escape(name)}</title></polyline>"
            )
    step = _tick_step(span)
    for k in range(int(span / step) + 1):
        t = k * step
        out.append(
            f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{CURVE_Y + CURVE_H}" y2="{CURVE_Y + CURVE_H + 5}" '
            f'stroke="#333"/><text x="{x(t):.1f}" y="{CURVE_Y + CURVE_H + 18}" text-anchor="middle">'
            f"{_clock(t)}</text>"
        )
    out.append("</svg>")
    return "\n".join(out)


def timeline_html(tl: Timeline) -> str:
    cfg = tl.config
    legend = "".join(
        f'<span class="key"><i style="background:{colour(i)}"></i>{escape(n)}</span>' for i, n in enumerate(tl.labels)
    )
    rows = "".join(
        f"<tr><td>{escape(e.label)}</td><td>{_clock(e.start)}</td><td>{_clock(e.end)}</td>"
        f"<td>{e.duration:.2f}</td><td>{e.peak:.3f}</td><td>{e.mean:.3f}</td><td>{e.predictions}</td></tr>"
        for e in tl.events
    )
    table = (
        f"<table><thead><tr><th>label</th><th>start</th><th>end</th><th>seconds</th><th>peak</th>"
        f"<th>mean</th><th>predictions</th></tr></thead><tbody>{rows}</tbody></table>"
        if tl.events
        else "<p>No event: no label held its threshold long enough.</p>"
    )
    window = f" ({tl.window_s:.2f} s)" if tl.window_s else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>lrcn timeline: {escape(tl.source)}</title>
<style>
body {{ font-family: sans-serif; margin: 24px; color: #222; }}
.key {{ margin-right: 14px; white-space: nowrap; }}
.key i {{ display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }}
table {{ border-collapse: collapse; margin-top: 12px; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }}
th:first-child, td:first-child {{ text-align: left; }}
</style></head><body>
<h1>Timeline of {escape(tl.source)}</h1>
<p>{tl.duration:.1f} s of video, {len(tl.times)} predictions, {len(tl.events)} events
(threshold {cfg.threshold:g}, min event {cfg.min_event:g} s, merge gap {cfg.merge_gap:g} s).
A prediction is placed at the newest frame of its window{window}, so a change shows up to that late.</p>
<p>{legend}</p>
{svg(tl)}
<h2>Events</h2>
{table}
</body></html>
"""
