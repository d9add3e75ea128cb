"""What a case's answer holds besides its text, as the run record keeps it: tool calls and conversations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from helm_eval._records import Outcome

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
