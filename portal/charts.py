"""The portal's one chart: bars over periods, drawn as inline SVG by ``chart.html``.

The statement's contacts-per-unit history and the page-gap report's questions per period are
both drawn by ``bar_chart``; this module only computes where things go.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from markupsafe import Markup

from portal.pages import render
from portal.strings import FALLBACK, say
from seller.page_gaps import PageGapReport
from seller.statements import CpuPoint

WIDTH = 640
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 24  # room for the value labels and the period labels
STUB = 4  # the height of a bar whose value is unknown


@dataclass(frozen=True, slots=True)
class Bar:
    label: str  # under the bar
    value: float | None  # None: unknown, drawn as a grey stub
    title: str  # what a pointer on the bar reads
    part: float = 0.0  # a share of the value drawn over it in a second shade
    part_title: str = ""
    data: Mapping[str, str] = field(default_factory=dict)  # data-* attributes of the bar


@dataclass(frozen=True, slots=True)
class Guide:
    """A dashed line across the chart at a value, labelled on the left."""

    value: float
    label: str


@dataclass(frozen=True, slots=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    fill: str
    title: str
    data: Mapping[str, str] = field(default_factory=dict)


def bar_chart(bars: Sequence[Bar], *, description: str, ceiling: float,
              guides: Sequence[Guide] = (), height: int = 200, fill: str = "#1f6feb",
              part_fill: str = "#12b76a") -> Markup:
    """Bars scaled to ``ceiling`` (the value at the chart's top)."""
    plot_h = height - BOTTOM - TOP
    base = TOP + plot_h
    step = (WIDTH - LEFT - RIGHT) / max(len(bars), 1)
    width = max(4.0, step * 0.6)
    ceiling = ceiling or 1.0

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / ceiling)

    rects: list[Rect] = []
    labels: list[tuple[float, str]] = []
    for i, bar in enumerate(bars):
        x = LEFT + i * step + (step - width) / 2
        if bar.value is None:
            rects.append(Rect(x, base - STUB, width, STUB, "#d0d5dd", bar.title, bar.data))
        else:
            rects.append(Rect(x, y(bar.value), width, base - y(bar.value), fill, bar.title,
                              bar.data))
        if bar.part:
            rects.append(Rect(x, y(bar.part), width, base - y(bar.part), part_fill,
                              bar.part_title))
        labels.append((x + width / 2, bar.label))
    return Markup(render("chart.html", width=WIDTH, height=height, left=LEFT, right=RIGHT,
                         base=base, description=description, rects=rects, labels=labels,
                         guides=[(y(g.value), g.label) for g in guides]))


def cpu_chart(points: Sequence[CpuPoint], bands: Sequence[Decimal],
              language: str = FALLBACK) -> Markup:
    """The CPU each month's tier was fixed from, with the fee table's bands."""
    known = [p.cpu for p in points if p.cpu is not None]
    ceiling = max([Decimal("0.35"), *[b * Decimal("1.15") for b in bands],
                   *[c * Decimal("1.1") for c in known]])
    bars = [Bar(str(p.month)[2:], float(p.cpu) if p.cpu is not None else None,
                f"{p.month}: " + (f"{p.cpu * 100:.1f} %" if p.cpu is not None
                                  else say(language, "chart_cpu_unknown", units=p.units)))
            for p in points]
    return bar_chart(bars, ceiling=float(ceiling),
                     description=say(language, "chart_cpu_title", count=len(points)),
                     guides=[Guide(float(b), f"{b * 100:.0f} %") for b in bands])


def page_gap_chart(report: PageGapReport, language: str = FALLBACK) -> Markup:
    """Questions per period; the ones the seller answered in a second shade."""
    counts = report.by_period
    if not counts:
        return Markup("")
    answered = Counter(g.period for g in report.gaps if g.answer)
    top = max(counts.values()) or 1
    bars = [Bar(label, n, say(language, "chart_gap_questions", period=label, count=n),
                part=answered.get(label, 0),
                part_title=say(language, "chart_gap_answered", period=label,
                               count=answered.get(label, 0)),
                data={"period": label, "count": str(n)}) for label, n in counts.items()]
    return bar_chart(bars, ceiling=top, height=220, fill="#f79009",
                     description=say(language, f"chart_gap_title_{report.period}"),
                     guides=[Guide(top, str(top))])
