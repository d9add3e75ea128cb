"""What a case's answer holds besides its text, as the run record keeps it: tool calls and conversations."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from helm_eval._records import Call, Case, Outcome
from helm_eval._text import excerpt

TRANSCRIPT_EXCERPT = 500
"""Characters of each message kept in a run record's transcript (as for a case's output)."""

MAX_SHOWN_TOOL_CALLS = 50
"""Tool calls of one run kept in the run record; a model looping on calls must not bloat every report."""


def _scrubbed(value: Any, scrub: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(str(k)): _scrubbed(v, scrub) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v, scrub) for v in value]
    return value


def shown_tool_calls(outcome: Outcome, scrub: Callable[[str], str]) -> list[dict[str, Any]]:
    """The tool calls of every turn of ``outcome`` as JSON, each string scrubbed of secrets.

    In a conversation each call carries the number of its turn.
    """
    calls: list[dict[str, Any]] = []
    turns = outcome.turns
    for number, turn in enumerate(turns, start=1):
        for call in turn.tool_calls:
            data = _scrubbed(call.to_json(), scrub)
            if len(turns) > 1:
                data["turn"] = number
            calls.append(data)
    return calls[:MAX_SHOWN_TOOL_CALLS]


def all_turns(outcomes: Sequence[Outcome]) -> list[Outcome]:
    """Every call's outcome: each repeat's turns in order (one per repeat for a single-turn case)."""
    return [turn for outcome in outcomes for turn in outcome.turns]


def history(case: Case, outcome: Outcome, turn: int) -> tuple[dict[str, str], ...]:
    """The messages sent for 1-based ``turn`` of ``case``: the prompt, then each earlier answer and follow-up."""
    messages = list(case.messages)
    for index, answer in enumerate(outcome.turns[: turn - 1]):
        messages.append({"role": "assistant", "content": answer.text})
        messages.append({"role": "user", "content": case.followups[index]})
    return tuple(messages)


def converse(send: Callable[[Call, Case], Outcome], case: Case, first: Call, answer: Outcome) -> Outcome:
    """Carry one run of a multi-turn case on from its first answer; returns the last turn's outcome.

    Each later turn is ``first`` with the history so far, sent through ``send`` (``Pipeline.call``: admitted,
    cached, budgeted and recorded). A turn that fails ends the conversation: its outcome, with the error, is
    the last. ``send`` raises ``BudgetCut`` when the budget refuses a turn.
    """
    turns = [answer]
    for turn in range(2, len(case.followups) + 2):
        if turns[-1].error is not None:
            break
        partial = dataclasses.replace(turns[-1], earlier_turns=tuple(turns[:-1]))
        call = dataclasses.replace(
            first, messages=history(case, partial, turn), cache_key=None, reservation=None, estimated_prompt_tokens=None
        )
        turns.append(send(call, case))
    return dataclasses.replace(turns[-1], earlier_turns=tuple(turns[:-1]))


def transcript(case: Case, outcome: Outcome, scrub: Callable[[str], str]) -> list[dict[str, Any]]:
    """The whole conversation of one run, message by message, scrubbed; empty for a single-turn case."""
    if not case.followups:
        return []
    lines: list[dict[str, Any]] = [
        {"role": m.get("role", "user"), "content": _shown(m.get("content", ""), scrub), "turn": 1}
        for m in case.messages
    ]
    for number, answer in enumerate(outcome.turns, start=1):
        entry: dict[str, Any] = {"role": "assistant", "content": _shown(answer.text, scrub), "turn": number}
        if answer.error is not None:
            entry["error"] = scrub(answer.error)
        lines.append(entry)
        if number < len(outcome.turns):
            lines.append({"role": "user", "content": _shown(case.followups[number - 1], scrub), "turn": number + 1})
    return lines


def _shown(text: object, scrub: Callable[[str], str]) -> str:
    return excerpt(scrub(str(text)), TRANSCRIPT_EXCERPT)
