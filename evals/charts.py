"""Inline SVG charts for the report: grouped bars, a histogram and a confusion matrix.

Plain SVG strings, so report.html needs no script, no library and no network to show them.
Every label is escaped; callers pass data, never markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

AGENT_COLOUR = "#2f6fb0"
BASELINE_COLOUR = "#c7a04a"
AXIS = "#555"


def grouped_bars(name: str, title: str, groups: Sequence[str],
                 series: Sequence[tuple[str, str, Sequence[float | None]]]) -> str:
    """Bars per group for each series (label, colour, values in [0, 1]); None draws no bar."""
    bar, gap, left, top, height = 18, 14, 44, 28, 180
    width = left + max(1, len(groups)) * (bar * len(series) + gap) + 20
    out = [f'<svg class="chart" data-chart="{escape(name)}" role="img" '
           f'width="{width}" height="{top + height + 90}" '
           f'viewBox="0 0 {width} {top + height + 90}" xmlns="http://www.w3.org/2000/svg">',
           f'<title>{escape(title)}</title>',
           f'<text x="4" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        y = top + height - tick * height
        out.append(f'<line x1="{left - 4}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="#ddd"/><text x="{left - 8}" y="{y + 4:.1f}" font-size="10" '
                   f'text-anchor="end">{tick:.2f}</text>')
    for g, group in enumerate(groups):
        x0 = left + g * (bar * len(series) + gap)
        for s, (label, colour, values) in enumerate(series):
            value = values[g]
            if value is None:
                continue
            h = max(0.0, min(1.0, value)) * height
            out.append(f'<rect class="bar" x="{x0 + s * bar}" y="{top + height - h:.1f}" '
                       f'width="{bar - 2}" height="{max(h, 1.0):.1f}" fill="{colour}">'
                       f'<title>{escape(label)} {escape(group)}: {value:.3f}</title></rect>')
        cx = x0 + bar * len(series) / 2
        out.append(f'<text x="{cx:.1f}" y="{top + height + 12}" font-size="10" '
                   f'text-anchor="end" transform="rotate(-40 {cx:.1f} {top + height + 12})">'
                   f'{escape(group)}</text>')
    out.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + height}" stroke="{AXIS}"/>')
    for s, (label, colour, _) in enumerate(series):
        x = left + s * 110
        out.append(f'<rect x="{x}" y="{top + height + 72}" width="10" height="10" '
                   f'fill="{colour}"/><text x="{x + 14}" y="{top + height + 81}" '
                   f'font-size="11">{escape(label)}</text>')
    out.append("</svg>")
    return "".join(out)


def histogram(name: str, title: str, values: Sequence[float], *, bins: int = 20,
              marks: Sequence[tuple[str, float | None]] = ()) -> str:
    """A histogram of ``values`` (milliseconds) with labelled vertical marks (p50, p95)."""
    left, top, width, height = 44, 28, 560, 180
    svg = [f'<svg class="chart" data-chart="{escape(name)}" role="img" '
           f'width="{left + width + 20}" height="{top + height + 40}" '
           f'viewBox="0 0 {left + width + 20} {top + height + 40}" '
           'xmlns="http://www.w3.org/2000/svg">', f'<title>{escape(title)}</title>',
           f'<text x="4" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    if values:
        high = max(values) or 1.0
        step = high / bins
        counts = [0] * bins
        for v in values:
            counts[min(bins - 1, int(v / step))] += 1
        peak = max(counts)
        w = width / bins
        for i, count in enumerate(counts):
            h = count / peak * height
            svg.append(f'<rect class="bar" x="{left + i * w:.1f}" y="{top + height - h:.1f}" '
                       f'width="{w - 1:.1f}" height="{max(h, 0.5):.1f}" fill="{AGENT_COLOUR}">'
                       f'<title>{i * step:.0f}-{(i + 1) * step:.0f} ms: {count}</title></rect>')
        for label, at in marks:
            if at is None:
                continue
            x = left + at / high * width
            svg.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + height}" '
                       f'stroke="#b03030" stroke-dasharray="4 3"/><text x="{x + 3:.1f}" '
                       f'y="{top + 10}" font-size="10" fill="#b03030">{escape(label)} '
                       f'{at:.0f} ms</text>')
        for frac in (0, 0.5, 1):
            x = left + frac * width
            svg.append(f'<text x="{x:.1f}" y="{top + height + 14}" font-size="10" '
                       f'text-anchor="middle">{frac * high:.0f} ms</text>')
    svg.append(f'<line x1="{left}" x2="{left + width}" y1="{top + height}" '
               f'y2="{top + height}" stroke="{AXIS}"/></svg>')
    return "".join(svg)


def confusion(name: str, title: str, table: dict[str, dict[str, int]]) -> str:
    """Expected (rows) against actual (columns) counts, shaded by share of the row."""
    rows = sorted(table)
    cols = sorted({c for r in table.values() for c in r} | set(rows))
    cell, left, top = 64, 110, 70
    width, height = left + cell * len(cols) + 10, top + cell * len(rows) + 20
    svg = [f'<svg class="chart" data-chart="{escape(name)}" role="img" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" '
           'xmlns="http://www.w3.org/2000/svg">', f'<title>{escape(title)}</title>',
           f'<text x="4" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
           f'<text x="{left}" y="34" font-size="10">actual →</text>',
           f'<text x="4" y="{top - 6}" font-size="10">expected ↓</text>']
    for j, col in enumerate(cols):
        svg.append(f'<text x="{left + j * cell + cell / 2}" y="{top - 8}" font-size="10" '
                   f'text-anchor="middle">{escape(col)}</text>')
    for i, row in enumerate(rows):
        total = sum(table[row].values()) or 1
        y = top + i * cell
        svg.append(f'<text x="{left - 6}" y="{y + cell / 2 + 4}" font-size="10" '
                   f'text-anchor="end">{escape(row)}</text>')
        for j, col in enumerate(cols):
            count = table[row].get(col, 0)
            share = count / total
            colour = "#2e8b57" if row == col else "#c0392b"
            svg.append(f'<rect class="cell" x="{left + j * cell}" y="{y}" width="{cell - 2}" '
                       f'height="{cell - 2}" fill="{colour}" fill-opacity="'
                       f'{0.08 + 0.85 * share:.2f}"><title>expected {escape(row)}, actual '
                       f'{escape(col)}: {count}</title></rect><text x="'
                       f'{left + j * cell + cell / 2 - 1}" y="{y + cell / 2 + 4}" '
                       f'font-size="12" text-anchor="middle">{count}</text>')
    svg.append("</svg>")
    return "".join(svg)
