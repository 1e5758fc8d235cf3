"""The run's reports: metrics.json, report.md and a self-contained report.html.

Everything here is computed from the cases and their results, so a report can be rebuilt
from results files alone; comparing with a previous run reads that run's output directory.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

from evals.charts import AGENT_COLOUR, BASELINE_COLOUR, confusion, grouped_bars, histogram
from evals.conversation_report import conversation_html, conversation_markdown
from evals.metrics import (
    Metrics,
    better,
    breakdown,
    compute,
    deltas,
    outcome_confusion,
)
from evals.public_metrics import METRICS as PUBLIC_METRICS
from evals.public_metrics import public_metrics
from evals.runner import RESULTS, CaseRun, read_results

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"


@dataclass
class PublicRun:
    """The public questions run beside the dataset: which part, in which directory."""

    part: str
    dir: Path
    runs: Sequence[CaseRun]


@dataclass
class Previous:
    """A previous run to compare with: its metrics and which cases flipped."""

    path: Path
    metrics: dict[str, Any]
    now_failing: list[str] = field(default_factory=list)
    now_passing: list[str] = field(default_factory=list)


def load_previous(path: Path, runs: Sequence[CaseRun]) -> Previous:
    """Read a previous output dir; raises FileNotFoundError when it holds no run."""
    metrics = json.loads((path / METRICS_FILE).read_text(encoding="utf-8"))
    before = {r.id: r.passed for r in read_results(path / RESULTS)}
    prev = Previous(path, metrics.get("agent", {}))
    for run in runs:
        was = before.get(run.case.id)
        if was is True and not run.agent.passed:
            prev.now_failing.append(run.case.id)
        elif was is False and run.agent.passed:
            prev.now_passing.append(run.case.id)
    return prev


def _dataset_label(dataset: Path | Sequence[Path]) -> str:
    return str(dataset) if isinstance(dataset, Path) else ", ".join(map(str, dataset))


def build_metrics(runs: Sequence[CaseRun], dataset: Path | Sequence[Path],
                  previous: Previous | None = None,
                  public: PublicRun | None = None,
                  conversations: dict[str, Any] | None = None) -> dict[str, Any]:
    agent_pairs = [(r.case, r.agent) for r in runs]
    base_pairs = [(r.case, r.baseline) for r in runs]
    agent, base = compute(agent_pairs), compute(base_pairs)
    by_agent, by_base = breakdown(agent_pairs), breakdown(base_pairs)
    out: dict[str, Any] = {
        "dataset": _dataset_label(dataset),
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "agent": agent, "baseline": base,
        "agent_ahead": {k: better(k, agent[k], base.get(k)) for k in agent},
        "by": {dim: {g: {"agent": by_agent[dim][g], "baseline": by_base[dim][g]}
                     for g in by_agent[dim]} for dim in by_agent},
        "outcome_confusion": {"agent": outcome_confusion(agent_pairs),
                              "baseline": outcome_confusion(base_pairs)},
        "latency_ms": {"agent": [v for r in runs for v in r.agent.latency_ms],
                       "baseline": [v for r in runs for v in r.baseline.latency_ms]},
        "failing": [r.case.id for r in runs if not r.agent.passed],
    }
    if previous is not None:
        out["previous"] = {"dir": str(previous.path),
                           "deltas": deltas(agent, previous.metrics),
                           "now_failing": previous.now_failing,
                           "now_passing": previous.now_passing}
    if public is not None:
        out["public"] = {"dir": str(public.dir), **public_metrics(public.runs, public.part)}
    if conversations is not None:
        out["conversations"] = conversations
    return out


def _fmt(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _signed(value: float | None) -> str:
    return "–" if value is None else f"{value:+.3f}"


def _metric_rows(m: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    agent: Metrics = m["agent"]
    base: Metrics = m["baseline"]
    delta: dict[str, float | None] = m.get("previous", {}).get("deltas", {})
    rows = []
    for name in agent:
        ahead = m["agent_ahead"].get(name)
        mark = "yes" if ahead else ("no" if ahead is False else "")
        rows.append((name, _fmt(agent[name]), _fmt(base.get(name)), mark,
                     _signed(delta.get(name))))
    return rows


_MD_SPECIAL = re.compile(r"([\\`*_\[\](){}#|!~])")


def _md(text: str) -> str:
    """Text from a reply or a case as inert Markdown: a reply quoting a product page's
    ``<script>`` or ``[link](javascript:...)`` renders as the characters it holds, on one line."""
    one_line = " ".join(text.split())
    return _MD_SPECIAL.sub(r"\\\1", escape(one_line, quote=False))


def write_markdown(m: dict[str, Any], runs: Sequence[CaseRun], path: Path) -> None:
    lines = [f"# Eval report: {m['dataset']}", "",
             f"{m['agent']['cases']} cases, {len(m['failing'])} failing; generated "
             f"{m['generated_at']}.", "",
             "| metric | agent | plain retrieval | agent ahead | Δ vs previous |",
             "|---|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in _metric_rows(m)]
    for dim, groups in m["by"].items():
        lines += ["", f"## By {dim}", "",
                  "| " + dim + " | cases | score | outcome | intent | groundedness | "
                  "baseline score |", "|---|---|---|---|---|---|---|"]
        for g, both in groups.items():
            a, b = both["agent"], both["baseline"]
            lines.append(f"| {g} | {a['cases']} | {_fmt(a['score'])} | "
                         f"{_fmt(a['outcome_accuracy'])} | {_fmt(a['intent_accuracy'])} | "
                         f"{_fmt(a['groundedness'])} | {_fmt(b['score'])} |")
    if "previous" in m:
        prev = m["previous"]
        lines += ["", f"## Compared with {prev['dir']}", "",
                  f"Now failing: {', '.join(prev['now_failing']) or 'none'}",
                  "", f"Now passing: {', '.join(prev['now_passing']) or 'none'}"]
    if "public" in m:
        lines += ["", *_public_markdown(m["public"])]
    if "conversations" in m:
        lines += ["", *conversation_markdown(m["conversations"])]
    lines += ["", "## Failing cases", ""]
    for run in runs:
        if run.agent.passed:
            continue
        lines.append(f"- **{_md(run.case.id)}** ({_md(run.case.channel)}): "
                     + "; ".join(_md(f) for f in run.agent.failures))
        if run.agent.replies:
            lines.append(f"  - reply: {_md(run.agent.replies[-1].text)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


_PUBLIC_ROWS = (*PUBLIC_METRICS, "cases", "expect_answer", "expect_escalation", "answered",
                "answered_relevant_first", "escalated")


def _public_markdown(p: dict[str, Any]) -> list[str]:
    lines = [f"## Public product questions ({p['part']})", "",
             f"{p['agent']['cases']} cases from public data (semiPQA, HetPQA; CDLA-Sharing-1.0), "
             f"results in {p['dir']}.", "", "| metric | agent | plain retrieval |", "|---|---|---|"]
    lines += [f"| {n} | {_fmt(p['agent'][n])} | {_fmt(p['baseline'][n])} |"
              for n in _PUBLIC_ROWS]
    lines += ["", "| source | cases | accuracy | precision | answer recall | escalation recall "
              "| baseline accuracy | baseline precision |", "|---|---|---|---|---|---|---|---|"]
    for source, both in p["by_source"].items():
        a, b = both["agent"], both["baseline"]
        lines.append(f"| {source} | {a['cases']} | {_fmt(a['answer_or_escalate_accuracy'])} | "
                     f"{_fmt(a['answer_precision'])} | {_fmt(a['answer_recall'])} | "
                     f"{_fmt(a['escalation_recall'])} | "
                     f"{_fmt(b['answer_or_escalate_accuracy'])} | "
                     f"{_fmt(b['answer_precision'])} |")
    return lines


def _public_html(p: dict[str, Any]) -> str:
    sources = list(p["by_source"])
    charts = [
        grouped_bars("public-metrics", f"Public questions ({p['part']})", list(PUBLIC_METRICS),
                     [("agent", AGENT_COLOUR, [p["agent"][n] for n in PUBLIC_METRICS]),
                      ("plain retrieval", BASELINE_COLOUR,
                       [p["baseline"][n] for n in PUBLIC_METRICS])]),
        grouped_bars("public-by-source", "Answer-or-escalate accuracy, by source", sources,
                     [("agent", AGENT_COLOUR, [p["by_source"][s]["agent"][
                         "answer_or_escalate_accuracy"] for s in sources]),
                      ("plain retrieval", BASELINE_COLOUR, [p["by_source"][s]["baseline"][
                          "answer_or_escalate_accuracy"] for s in sources])]),
    ]
    rows = "".join(f"<tr><td>{escape(n)}</td><td>{escape(_fmt(p['agent'][n]))}</td>"
                   f"<td>{escape(_fmt(p['baseline'][n]))}</td></tr>" for n in _PUBLIC_ROWS)
    by_source = "".join(
        f"<tr><td>{escape(s)}</td><td>{both['agent']['cases']}</td>"
        + "".join(f"<td>{escape(_fmt(both[who][n]))}</td>" for who in ("agent", "baseline")
                  for n in PUBLIC_METRICS) + "</tr>"
        for s, both in p["by_source"].items())
    heads = "".join(f"<th>{who} {escape(n)}</th>" for who in ("agent", "baseline")
                    for n in PUBLIC_METRICS)
    return (f'<h2 id="public">Public product questions ({escape(p["part"])})</h2>'
            f"<p>{p['agent']['cases']} cases from public data (semiPQA, HetPQA; "
            f"CDLA-Sharing-1.0), results in {escape(p['dir'])}.</p>"
            f'<div class="charts">{"".join(charts)}</div>'
            '<table id="public-metrics"><tr><th>metric</th><th>agent</th>'
            f"<th>plain retrieval</th></tr>{rows}</table>"
            f'<table id="public-by-source"><tr><th>source</th><th>cases</th>{heads}</tr>'
            f"{by_source}</table>")


_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:3px 8px;
font-size:13px;text-align:left;vertical-align:top}th{background:#f3f3f3}
.charts{display:flex;flex-wrap:wrap;gap:24px}.case{border:1px solid #ddd;margin:10px 0;
padding:8px 12px;border-radius:4px}.fail{color:#a02020}.reply{white-space:pre-wrap;
background:#f7f7f7;padding:6px}.yes{color:#1a7f37}.no{color:#a02020}code{font-size:12px}
"""


def _html_metrics(m: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{escape(n)}</td><td>{escape(a)}</td><td>{escape(b)}</td>"
        f'<td class="{escape(ahead)}">{escape(ahead)}</td><td>{escape(d)}</td></tr>'
        for n, a, b, ahead, d in _metric_rows(m))
    return ('<table id="metrics"><tr><th>metric</th><th>agent</th><th>plain retrieval</th>'
            f"<th>agent ahead</th><th>Δ vs previous</th></tr>{rows}</table>")


def _html_case(run: CaseRun) -> str:
    case = run.case
    expected = [{"turn": turn + 1, **e.model_dump(exclude_none=True, exclude_defaults=True)}
                for turn, e in case.expectations()]
    parts = [f'<div class="case" id="case-{escape(case.id)}"><b>{escape(case.id)}</b> · '
             f"{escape(case.channel)} · {escape(case.marketplace or '-')}",
             '<ul class="fail">' + "".join(f"<li>{escape(f)}</li>" for f in run.agent.failures)
             + "</ul>",
             "<p>expected:</p><pre><code>"
             f"{escape(json.dumps(expected, ensure_ascii=False, indent=1, default=str))}"
             "</code></pre>"]
    for i, turn in enumerate(case.turns):
        parts.append(f"<p>customer ({i + 1}): {escape(turn)}</p>")
        if i < len(run.agent.replies):
            reply = run.agent.replies[i]
            evidence = "".join(
                f"<li>{escape(c.kind)} {escape(c.asin or c.order_id or c.rule or '')} "
                f"{escape(c.field or '')}: {escape(c.text[:200])}</li>" for c in reply.citations)
            parts.append(f'<div class="reply">{escape(reply.text)}</div><p>outcome '
                         f"{escape(reply.outcome)}, intent {escape(reply.intent)}, language "
                         f"{escape(reply.language)}, case {escape(reply.case_id or '-')}</p>"
                         f"<p>evidence cited:</p><ul>{evidence or '<li>none</li>'}</ul>")
    if run.agent.error:
        parts.append(f"<pre><code>{escape(run.agent.error)}</code></pre>")
    parts.append("</div>")
    return "".join(parts)


def write_html(m: dict[str, Any], runs: Sequence[CaseRun], path: Path) -> None:
    charts = []
    for dim in ("intent", "language"):
        groups = list(m["by"][dim])
        charts.append(grouped_bars(
            f"score-by-{dim}", f"Share of cases passed, by {dim}", groups,
            [("agent", AGENT_COLOUR, [m["by"][dim][g]["agent"]["score"] for g in groups]),
             ("plain retrieval", BASELINE_COLOUR,
              [m["by"][dim][g]["baseline"]["score"] for g in groups])]))
    agent = m["agent"]
    charts.append(histogram("latency", "Agent latency per turn", m["latency_ms"]["agent"],
                            marks=[("p50", agent["latency_p50_ms"]),
                                   ("p95", agent["latency_p95_ms"])]))
    charts.append(confusion("outcome-confusion", "Outcome: expected vs actual (agent)",
                            m["outcome_confusion"]["agent"]))
    flips = ""
    if "previous" in m:
        prev = m["previous"]
        flips = (f"<h2>Compared with {escape(prev['dir'])}</h2><p>Now failing: "
                 f"{escape(', '.join(prev['now_failing']) or 'none')}</p><p>Now passing: "
                 f"{escape(', '.join(prev['now_passing']) or 'none')}</p>")
    failing = "".join(_html_case(r) for r in runs if not r.agent.passed)
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Eval report</title><style>{_STYLE}</style></head><body>"
        f"<h1>Eval report</h1><p>{escape(m['dataset'])}: {agent['cases']} cases, "
        f"{len(m['failing'])} failing · generated {escape(m['generated_at'])}</p>"
        f'<div class="charts">{"".join(charts)}</div>'
        f"<h2>Metrics</h2>{_html_metrics(m)}{flips}"
        f"{_public_html(m['public']) if 'public' in m else ''}"
        f"{conversation_html(m['conversations']) if 'conversations' in m else ''}"
        f"<h2>Failing cases ({len(m['failing'])})</h2>{failing or '<p>none</p>'}"
        "</body></html>")
    path.write_text(page, encoding="utf-8")


def write_reports(runs: Sequence[CaseRun], out_dir: Path, dataset: Path | Sequence[Path],
                  previous: Previous | None = None,
                  public: PublicRun | None = None,
                  conversations: dict[str, Any] | None = None) -> dict[str, Any]:
    m = build_metrics(runs, dataset, previous, public, conversations)
    (out_dir / METRICS_FILE).write_text(json.dumps(m, indent=1, ensure_ascii=False),
                                        encoding="utf-8")
    write_markdown(m, runs, out_dir / REPORT_MD)
    write_html(m, runs, out_dir / REPORT_HTML)
    log.info("reports written to %s", out_dir)
    return m


def write_conversation_reports(section: dict[str, Any], out_dir: Path,
                               conversations: Sequence[Path]) -> dict[str, Any]:
    """The reports of a run of the conversation eval alone: the same three files, holding
    only its section."""
    label = _dataset_label(conversations)
    generated = datetime.now(UTC).isoformat(timespec="seconds")
    m = {"conversations_dataset": label, "generated_at": generated, "conversations": section}
    (out_dir / METRICS_FILE).write_text(json.dumps(m, indent=1, ensure_ascii=False),
                                        encoding="utf-8")
    (out_dir / REPORT_MD).write_text("\n".join(
        [f"# Conversation eval: {label}", "",
         *conversation_markdown(section)]) + "\n", encoding="utf-8")
    (out_dir / REPORT_HTML).write_text(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Conversation eval</title><style>{_STYLE}</style></head><body>"
        f"<h1>Conversation eval</h1><p>{escape(label)} · generated "
        f"{escape(generated)}</p>{conversation_html(section)}</body></html>",
        encoding="utf-8")
    return m
