"""Assertions on the tool calls a model asked for (promptfoo's names and meaning).

``is-valid-openai-tools-call``, ``tool-call-f1`` and the ``trajectory:`` family read ``Outcome.tool_calls``,
the calls the server returned next to the text. promptfoo reads trajectories from traces of an agent's run; here
the trajectory is the tool calls of the response, in order (of every turn, in a multi-turn conversation).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from helm_eval._records import ToolCall
from helm_eval._text import quote
from helm_eval.checks._registry import register
from helm_eval.checks._types import CheckError, CheckInput, CheckOutput


def _calls(check: CheckInput) -> list[ToolCall]:
    if check.outcome is None:
        return []
    return [call for turn in check.outcome.turns for call in turn.tool_calls]


def _names(calls: Sequence[ToolCall]) -> str:
    return ", ".join(c.name for c in calls) or "(none)"


def _offered(check: CheckInput) -> list[Mapping[str, Any]]:
    tools = check.value if check.value is not None else check.options.get("tools")
    if not tools:
        raise CheckError("no tools were offered: set options.tools (or give the tools as the assertion's value)")
    return [t for t in tools if isinstance(t, Mapping)]


def _tools_value(value: Any, threshold: float | None) -> None:
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise ValueError("value must be a list of tools (as in options.tools)")
    for tool in value:
        _check_tool_schema(tool)


def _check_tool_schema(tool: Mapping[str, Any]) -> None:
    function = tool.get("function")
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise ValueError("each tool needs function.name")
    parameters = function.get("parameters")
    if parameters is not None:
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(parameters)
        except SchemaError as exc:
            raise ValueError(f"tool {function['name']!r}: invalid parameters schema: {exc.message}") from None


@register("is-valid-openai-tools-call", value="optional", validate=_tools_value)
def is_valid_tools_call(check: CheckInput) -> CheckOutput:
    """The model called tools, each one offered, with arguments valid against that tool's JSON Schema."""
    from jsonschema import Draft202012Validator

    calls = _calls(check)
    if not calls:
        return CheckOutput(False, f"the model called no tool; it answered: {quote(check.output)}")
    schemas: dict[str, Any] = {}
    for tool in _offered(check):
        function = tool.get("function")
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            schemas[function["name"]] = function.get("parameters") or {}
    for call in calls:
        if call.name not in schemas:
            return CheckOutput(False, f"tool call {call.name!r} names no offered tool (offered: {', '.join(schemas)})")
        if call.error is not None:
            return CheckOutput(False, f"tool call {call.name!r}: {call.error}: {quote(call.raw_arguments)}")
        errors = sorted(
            Draft202012Validator(schemas[call.name]).iter_errors(call.arguments), key=lambda e: list(e.path)
        )
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "(root)"
            return CheckOutput(
                False, f"tool call {call.name!r}: arguments do not match the schema at {where}: {errors[0].message}"
            )
    return CheckOutput(True, f"every tool call is valid against the offered tools: {_names(calls)}")


def _name_list(value: Any, threshold: float | None) -> None:
    names = _expected_names(value)
    if not names:
        raise ValueError("value must name at least one tool (a list or a comma-separated string)")


def _expected_names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [n.strip() for n in value.split(",") if n.strip()]
    if isinstance(value, list):
        return [str(n).strip() for n in value if str(n).strip()]
    raise ValueError("value must be a list of tool names or a comma-separated string")


@register("tool-call-f1", validate=_name_list)
def tool_call_f1(check: CheckInput) -> CheckOutput:
    """F1 of the tool names called against the expected names, as sets (threshold default 1.0)."""
    expected = set(_expected_names(check.value))
    actual = {c.name for c in _calls(check)}
    both = len(expected & actual)
    precision = both / len(actual) if actual else 0.0
    recall = both / len(expected) if expected else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    threshold = check.threshold if check.threshold is not None else 1.0
    reason = (
        f"tool call F1 {f1:.3f} (precision {precision:.3f}, recall {recall:.3f}); "
        f"called [{', '.join(sorted(actual)) or '(none)'}], expected [{', '.join(sorted(expected))}]"
    )
    return CheckOutput(f1 + 1e-12 >= threshold, reason, score=f1, threshold=threshold)


def _tool_used_value(value: Any, threshold: float | None) -> None:
    if isinstance(value, str) and value:
        return
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        unknown = set(value) - {"name", "min", "max"}
        if unknown:
            raise ValueError(f"unknown key {sorted(unknown)[0]!r} (use name, min, max)")
        for key in ("min", "max"):
            if key in value and (not isinstance(value[key], int) or value[key] < 0):
                raise ValueError(f"{key} must be a whole number ≥ 0")
        return
    raise ValueError("value must be a tool name, a list of names, or {name, min, max}")


@register("trajectory:tool-used", validate=_tool_used_value)
def tool_used(check: CheckInput) -> CheckOutput:
    """The model called the named tool(s): every name of a list, or one name between ``min`` and ``max`` times."""
    calls = _calls(check)
    value = check.value
    if isinstance(value, dict):
        name, low, high = value["name"], int(value.get("min", 1)), value.get("max")
        count = sum(1 for c in calls if c.name == name)
        bounds = f"at least {low}" if high is None else f"{low}–{high}"
        passed = count >= low and (high is None or count <= int(high))
        return CheckOutput(passed, f"tool {name!r} called {count} time(s) (expected {bounds}); calls: {_names(calls)}")
    wanted = [value] if isinstance(value, str) else list(value)
    called = {c.name for c in calls}
    missing = [n for n in wanted if n not in called]
    if missing:
        return CheckOutput(False, f"tool(s) not called: {', '.join(missing)}; calls: {_names(calls)}")
    return CheckOutput(True, f"tool(s) called: {', '.join(wanted)}; calls: {_names(calls)}")


def _sequence(value: Any) -> tuple[list[str], str]:
    steps: Any
    if isinstance(value, list):
        steps, mode = value, "in_order"
    elif isinstance(value, dict):
        steps, mode = value.get("steps"), value.get("mode", "in_order")
    else:
        raise ValueError("value must be a list of tool names or {steps, mode}")
    if not isinstance(steps, list) or not steps or not all(isinstance(s, str) for s in steps):
        raise ValueError("steps must be a non-empty list of tool names")
    if mode not in ("in_order", "exact"):
        raise ValueError("mode must be in_order or exact")
    return steps, mode


def _sequence_value(value: Any, threshold: float | None) -> None:
    _sequence(value)


@register("trajectory:tool-sequence", validate=_sequence_value)
def tool_sequence(check: CheckInput) -> CheckOutput:
    """The tools were called in this order: ``in_order`` (others may come between) or ``exact``."""
    steps, mode = _sequence(check.value)
    names = [c.name for c in _calls(check)]
    actual = ", ".join(names) or "(none)"
    if mode == "exact":
        passed = names == steps
        return CheckOutput(passed, f"tool calls were {actual} (expected exactly {', '.join(steps)})")
    index = 0
    for name in names:
        if index < len(steps) and name == steps[index]:
            index += 1
    if index == len(steps):
        return CheckOutput(True, f"tool calls {actual} include {', '.join(steps)} in order")
    return CheckOutput(False, f"tool {steps[index]!r} was not called in order; tool calls were {actual}")


def _args_value(value: Any, threshold: float | None) -> None:
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        raise ValueError("value must be {name, args, mode}")
    if "args" not in value and "arguments" not in value:
        raise ValueError("value needs args (the arguments expected)")
    if value.get("mode", "partial") not in ("partial", "exact"):
        raise ValueError("mode must be partial or exact")


def _subset(actual: Any, expected: Any) -> bool:
    """``expected`` is contained in ``actual``: mappings by key, recursively; lists and scalars must be equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and _subset(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(_subset(a, e) for a, e in zip(actual, expected, strict=True))
        )
    if _same_number(actual, expected):
        return True
    return type(actual) is type(expected) and bool(actual == expected)


def _same_number(actual: Any, expected: Any) -> bool:
    numbers = (int, float)
    return (
        isinstance(actual, numbers)
        and isinstance(expected, numbers)
        and not isinstance(actual, bool)
        and not isinstance(expected, bool)
        and actual == expected
    )


@register("trajectory:tool-args-match", validate=_args_value)
def tool_args_match(check: CheckInput) -> CheckOutput:
    """A call of the named tool has these arguments: a subset match (``mode: partial``, default) or ``exact``."""
    value = check.value
    name = value["name"]
    expected = value["args"] if "args" in value else value["arguments"]
    exact = value.get("mode", "partial") == "exact"
    calls = [c for c in _calls(check) if c.name == name]
    if not calls:
        return CheckOutput(False, f"tool {name!r} was not called; calls: {_names(_calls(check))}")
    for call in calls:
        if call.error is None and (call.arguments == expected if exact else _subset(call.arguments, expected)):
            return CheckOutput(True, f"tool {name!r} was called with {quote(json.dumps(call.arguments))}")
    seen = "; ".join(quote(c.raw_arguments, 120) for c in calls)
    how = "exactly" if exact else "including"
    return CheckOutput(False, f"tool {name!r} was never called with arguments {how} {json.dumps(expected)}: {seen}")
