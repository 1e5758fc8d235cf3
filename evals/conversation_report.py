"""The conversation eval in the reports: a Markdown table and an HTML section with charts.

Rendered from the ``conversations`` section of metrics.json alone, so a report can be rebuilt
from it; every text is escaped, and the failed-turn table holds ids and what was missing.
"""

from __future__ import annotations

from html import escape
from typing import Any

from evals.charts import AGENT_COLOUR, BASELINE_COLOUR, grouped_bars

CONVERSATION_COLOUR = AGENT_COLOUR
TURN_COLOUR = BASELINE_COLOUR


def _fmt(value: object) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _chart(name: str, title: str, groups: dict[str, dict[str, Any]]) -> str:
    names = list(groups)
    return grouped_bars(name, title, names, [
        # Short labels: the legend gives each series a fixed width.
        ("conversations", CONVERSATION_COLOUR, [groups[g]["pass_rate"] for g in names]),
        ("turns", TURN_COLOUR, [groups[g]["turn_pass_rate"] for g in names])])


def _rows(groups: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
    return [(g, str(v["conversations"]), str(v["passed"]), _fmt(v["pass_rate"]),
             str(v["turns"]), _fmt(v["turn_pass_rate"])) for g, v in groups.items()]


def conversation_html(section: dict[str, Any]) -> str:
    overall = section["overall"]
    charts = [_chart("conversations-by-language", "Passed, by language",
                     section["by_language"]),
              _chart("conversations-by-channel", "Passed, by channel", section["by_channel"])]
    head = ("<tr><th>{}</th><th>conversations</th><th>passed</th><th>pass rate</th>"
            "<th>turns</th><th>turn pass rate</th></tr>")
    tables = "".join(
        f'<table id="conversations-{dim}">{head.format(dim)}'
        + "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>"
                  for row in _rows(section[f"by_{dim}"])) + "</table>"
        for dim in ("language", "channel"))
    by_turn = "".join(f"<tr><td>{escape(n)}</td><td>{v['turns']}</td>"
                      f"<td>{escape(_fmt(v['turn_pass_rate']))}</td></tr>"
                      for n, v in section["by_turn"].items())
    failed = "".join(
        f"<tr><td>{escape(f['id'])}</td><td>{escape(f['language'])}</td>"
        f"<td>{escape(f['channel'])}</td><td>{escape(str(f['turn'] or 'all'))}</td><td><ul>"
        + "".join(f"<li>{escape(x)}</li>" for x in f["failures"]) + "</ul></td></tr>"
        for f in section["failed_turns"])
    return (
        '<h2 id="conversations">Conversations</h2>'
        f"<p>{overall['conversations']} conversations, {overall['passed']} passed "
        f"({escape(_fmt(overall['pass_rate']))}); {overall['turns']} turns, "
        f"{overall['turns_passed']} passed ({escape(_fmt(overall['turn_pass_rate']))}); "
        f"{overall['errors']} errors. A conversation passes when every turn does.</p>"
        f'<div class="charts">{"".join(charts)}</div>{tables}'
        '<table id="conversations-by-turn"><tr><th>turn</th><th>played</th>'
        f"<th>pass rate</th></tr>{by_turn}</table>"
        f"<h3>Failed turns ({len(section['failed_turns'])})</h3>"
        '<table id="conversations-failed"><tr><th>conversation</th><th>language</th>'
        f"<th>channel</th><th>turn</th><th>what was missing</th></tr>{failed}</table>")


def conversation_markdown(section: dict[str, Any]) -> list[str]:
    overall = section["overall"]
    lines = ["## Conversations", "",
             f"{overall['conversations']} conversations, {overall['passed']} passed "
             f"({_fmt(overall['pass_rate'])}); {overall['turns']} turns, "
             f"{overall['turns_passed']} passed ({_fmt(overall['turn_pass_rate'])}).", ""]
    for dim in ("language", "channel"):
        lines += [f"| {dim} | conversations | passed | pass rate | turns | turn pass rate |",
                  "|---|---|---|---|---|---|"]
        lines += ["| " + " | ".join(row) + " |" for row in _rows(section[f"by_{dim}"])]
        lines.append("")
    lines += ["### Failed turns", ""]
    lines += [f"- {f['id']} turn {f['turn'] or 'all'}: "
              + "; ".join(" ".join(x.split()) for x in f["failures"])
              for f in section["failed_turns"]]
    return lines
