"""The conversation eval's metrics, from the conversations and their results alone.

A conversation passes when every turn passes (and it opened no more cases than allowed); a
turn passes when every check it states passes. Pass rates are counted overall, per language,
per channel and per turn position (all first turns, all second turns, ...), each None when
there is nothing to count.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from evals.conversation_runner import ConversationResult
from evals.conversations import Conversation
from evals.metrics import ratio

Pair = tuple[Conversation, ConversationResult]


def pass_rates(pairs: Sequence[Pair]) -> dict[str, float | int | None]:
    turns = [t for _, r in pairs for t in r.turns]
    return {"conversations": len(pairs),
            "passed": sum(r.passed for _, r in pairs),
            "pass_rate": ratio(sum(r.passed for _, r in pairs), len(pairs)),
            "turns": len(turns),
            "turns_passed": sum(t.passed for t in turns),
            "turn_pass_rate": ratio(sum(t.passed for t in turns), len(turns)),
            "errors": sum(r.error is not None for _, r in pairs)}


def _grouped(pairs: Sequence[Pair], key: Callable[[Conversation], str]
             ) -> dict[str, dict[str, float | int | None]]:
    groups: dict[str, list[Pair]] = {}
    for pair in pairs:
        groups.setdefault(key(pair[0]), []).append(pair)
    return {name: pass_rates(members) for name, members in sorted(groups.items())}


def by_turn_position(pairs: Sequence[Pair]) -> dict[str, dict[str, float | int | None]]:
    """Turn n's pass rate over the conversations that have an n-th turn."""
    longest = max((len(r.turns) for _, r in pairs), default=0)
    out: dict[str, dict[str, float | int | None]] = {}
    for n in range(longest):
        played = [r.turns[n] for _, r in pairs if n < len(r.turns)]
        out[f"turn {n + 1}"] = {"turns": len(played),
                                "turns_passed": sum(t.passed for t in played),
                                "turn_pass_rate": ratio(sum(t.passed for t in played),
                                                        len(played))}
    return out


def failed_turns(pairs: Sequence[Pair]) -> list[dict[str, Any]]:
    """Each failed turn by conversation id and turn number with what was missing: ids and
    the checks' own words, never what the customer wrote or their contact details."""
    rows: list[dict[str, Any]] = []
    for conv, result in pairs:
        rows += [{"id": conv.id, "language": conv.language, "channel": conv.channel,
                  "turn": n + 1, "failures": list(turn.failures)}
                 for n, turn in enumerate(result.turns) if not turn.passed]
        if result.failures:
            rows.append({"id": conv.id, "language": conv.language, "channel": conv.channel,
                         "turn": None, "failures": list(result.failures)})
    return rows


def conversation_section(pairs: Sequence[Pair]) -> dict[str, Any]:
    """The ``conversations`` section of metrics.json."""
    return {"overall": pass_rates(pairs),
            "by_language": _grouped(pairs, lambda c: c.language),
            "by_channel": _grouped(pairs, lambda c: c.channel),
            "by_turn": by_turn_position(pairs),
            "failed_turns": failed_turns(pairs),
            "failing": [c.id for c, r in pairs if not r.passed]}
