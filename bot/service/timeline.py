"""A backtest timeline as a small hand-written SVG: one panel per SLI, thresholds, fire intervals, heals.

For a PR description or a review: each panel draws the SLI as a polyline (log-free linear scale from 0
to a little above the highest of the SLI and its thresholds), each threshold as a dashed line, every
policy's fire intervals as shaded bands (one colour per policy, named in the legend) and each heal as a
tick on the time axis. Pure: builds a string; no I/O, no plotting library.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from xml.sax.saxutils import escape

WIDTH, PANEL, MARGIN_L, MARGIN_R, TOP = 900, 150, 70, 20, 40
COLOURS = ("#d62728", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


@dataclass(frozen=True)
class Line:
    label: str
    points: Sequence[tuple[float, float]]  # (unix time, value)
    limits: Sequence[tuple[str, float]]  # (label, threshold value)


class Span(Protocol):
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def _label(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%m-%d %H:%M")


def render(
    app: str,
    start: float,
    end: float,
    lines: Sequence[Line],
    fired: Sequence[tuple[str, Sequence[Span]]],
    heals: Sequence[float] = (),
) -> str:
    """The whole SVG document for one app."""
    span = max(end - start, 1.0)
    inner = WIDTH - MARGIN_L - MARGIN_R
    panels = max(len(lines), 1)
    legend = 18 * (len(fired) + 1)
    height = TOP + panels * (PANEL + 30) + legend + 20

    def x(t: float) -> float:
        return MARGIN_L + (min(max(t, start), end) - start) / span * inner

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">',
        f"<title>githeal backtest: {escape(app)}</title>",
        '<rect width="100%" height="100%" fill="white"/>',
        f'<text x="{MARGIN_L}" y="20" font-size="14" font-weight="bold">{escape(app)}: '
        f"{escape(_label(start))} .. {escape(_label(end))} UTC</text>",
    ]
    for index, line in enumerate(lines or [Line("no SLO", (), ())]):
        top = TOP + index * (PANEL + 30)
        bottom = top + PANEL
        peak = max([v for _, v in line.points] + [v for _, v in line.limits] + [0.0])
        ceiling = peak * 1.1 if peak > 0 else 1.0

        def y(v: float, bottom: float = bottom, ceiling: float = ceiling) -> float:
            return bottom - min(max(v, 0.0), ceiling) / ceiling * PANEL

        out.append(f'<g class="panel" data-sli="{escape(line.label)}">')
        for n, (_, spans) in enumerate(fired):
            colour = COLOURS[n % len(COLOURS)]
            for s in spans:
                w = max(x(s.end) - x(s.start), 1.0)
                out.append(
                    f'<rect class="fire" x="{_fmt(x(s.start))}" y="{top}" width="{_fmt(w)}" '
                    f'height="{PANEL}" fill="{colour}" fill-opacity="0.18"/>'
                )
        out.append(
            f'<rect x="{MARGIN_L}" y="{top}" width="{inner}" height="{PANEL}" fill="none" stroke="#999"/>'
        )
        for label, value in line.limits:
            out.append(
                f'<line class="threshold" x1="{MARGIN_L}" x2="{MARGIN_L + inner}" y1="{_fmt(y(value))}" '
                f'y2="{_fmt(y(value))}" stroke="#555" stroke-dasharray="4 3"/>'
                f'<text x="{MARGIN_L + inner - 4}" y="{_fmt(y(value) - 3)}" text-anchor="end" '
                f'fill="#555">{escape(label)}</text>'
            )
        if line.points:
            coords = " ".join(f"{_fmt(x(t))},{_fmt(y(v))}" for t, v in line.points)
            out.append(f'<polyline class="sli" points="{coords}" fill="none" stroke="#1f77b4"/>')
        out.append(f'<text x="{MARGIN_L}" y="{top - 4}">{escape(line.label)}</text>')
        out.append(f'<text x="{MARGIN_L - 4}" y="{top + 10}" text-anchor="end">{ceiling:.3g}</text>')
        out.append(f'<text x="{MARGIN_L - 4}" y="{bottom}" text-anchor="end">0</text>')
        out.append(f'<text x="{MARGIN_L}" y="{bottom + 14}">{escape(_label(start))}</text>')
        out.append(
            f'<text x="{MARGIN_L + inner}" y="{bottom + 14}" text-anchor="end">{escape(_label(end))}</text>'
        )
        for t in heals:
            out.append(
                f'<line class="heal" x1="{_fmt(x(t))}" x2="{_fmt(x(t))}" y1="{bottom}" y2="{bottom + 6}" '
                'stroke="black" stroke-width="2"/>'
            )
        out.append("</g>")
    legend_top = TOP + panels * (PANEL + 30) + 4
    for n, (policy, spans) in enumerate(fired):
        colour = COLOURS[n % len(COLOURS)]
        yy = legend_top + n * 18
        out.append(
            f'<rect x="{MARGIN_L}" y="{yy}" width="12" height="12" fill="{colour}" fill-opacity="0.4"/>'
            f'<text x="{MARGIN_L + 18}" y="{yy + 10}">{escape(policy)}: fired {len(spans)}x</text>'
        )
    yy = legend_top + len(fired) * 18
    out.append(
        f'<text x="{MARGIN_L}" y="{yy + 10}">blue: SLI; dashed: thresholds; '
        f"ticks: heals ({len(heals)})</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"
