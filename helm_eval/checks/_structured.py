"""Assertions on structure and on the call itself: is-json, contains-json, latency, finish-reason."""

from __future__ import annotations

import json
from typing import Any

from helm_eval._text import quote
from helm_eval.checks._registry import CheckInput, CheckOutput, register


def _schema(value: Any, threshold: float | None) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise ValueError("value must be a JSON Schema mapping")
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        raise ValueError(f"invalid JSON Schema: {exc.message}") from None


def _schema_problem(document: Any, schema: Any) -> str | None:
    if schema is None:
        return None
    from jsonschema import Draft202012Validator

    errors = sorted(Draft202012Validator(schema).iter_errors(document), key=lambda e: list(e.path))
    if not errors:
        return None
    first = errors[0]
    where = "/".join(str(p) for p in first.path) or "(root)"
    return f"JSON does not match the schema at {where}: {first.message}"


@register("is-json", value="optional", validate=_schema)
def is_json(check: CheckInput) -> CheckOutput:
    """Output is valid JSON, matching the JSON Schema given as value (if any)."""
    try:
        document = json.loads(check.output)
    except ValueError as exc:
        return CheckOutput(False, f"output is not valid JSON ({exc}): {quote(check.output)}")
    problem = _schema_problem(document, check.value)
    if problem:
        return CheckOutput(False, problem)
    return CheckOutput(True, "output is valid JSON" + (" matching the schema" if check.value else ""))


def _find_json(text: str) -> list[Any]:
    decoder = json.JSONDecoder()
    found: list[Any] = []
    index = 0
    while index < len(text):
        starts = [i for i in (text.find("{", index), text.find("[", index)) if i >= 0]
        if not starts:
            break
        start = min(starts)
        try:
            document, end = decoder.raw_decode(text, start)
        except ValueError:
            index = start + 1
            continue
        found.append(document)
        index = end
    return found


@register("contains-json", value="optional", validate=_schema)
def contains_json(check: CheckInput) -> CheckOutput:
    """Output contains a JSON object or array (e.g. in a code fence), matching the schema if given."""
    documents = _find_json(check.output)
    if not documents:
        return CheckOutput(False, f"output contains no JSON: {quote(check.output)}")
    problems = [_schema_problem(doc, check.value) for doc in documents]
    if any(p is None for p in problems):
        return CheckOutput(True, "output contains JSON" + (" matching the schema" if check.value else ""))
    return CheckOutput(False, str(problems[0]))


def _latency_args(value: Any, threshold: float | None) -> None:
    limit = threshold if threshold is not None else value
    if not isinstance(limit, int | float) or isinstance(limit, bool) or limit <= 0:
        raise ValueError("threshold must be the maximum latency in milliseconds")


@register("latency", value="optional", validate=_latency_args)
def latency(check: CheckInput) -> CheckOutput:
    """The call took at most ``threshold`` milliseconds (server response time, retries included)."""
    limit = float(check.threshold if check.threshold is not None else check.value)
    if check.outcome is None:
        raise ValueError("latency needs the call's outcome")
    took = check.outcome.latency_ms
    ok = took <= limit
    return CheckOutput(ok, f"latency {took:.0f} ms {'<=' if ok else '>'} {limit:.0f} ms", took)


def _need_reason(value: Any, threshold: float | None) -> None:
    if not isinstance(value, str):
        raise ValueError("value must be a string such as 'stop' or 'length'")


@register("finish-reason", validate=_need_reason)
def finish_reason(check: CheckInput) -> CheckOutput:
    """The server's finish reason equals the value (``stop``, or ``length`` when cut by max_tokens)."""
    actual = check.outcome.finish_reason if check.outcome is not None else None
    ok = actual == check.value
    return CheckOutput(ok, f"finish reason is {actual!r}")
