"""Deterministic string assertions: equals, contains family, starts-with, regex, levenshtein, length."""

from __future__ import annotations

import json
import re
from typing import Any

from helm_eval._text import quote
from helm_eval.checks._registry import CheckInput, CheckOutput, register


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        # promptfoo accepts a comma-separated string for the *-any/*-all types
        return [part.strip() for part in value.split(",") if part.strip()]
    if (
        isinstance(value, list)
        and value
        and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value)
    ):
        return [str(v) for v in value]
    raise ValueError("value must be a non-empty list of strings (or a comma-separated string)")


def _need_list(value: Any, threshold: float | None) -> None:
    _strings(value)


def _need_string(value: Any, threshold: float | None) -> None:
    if isinstance(value, bool):
        # YAML reads unquoted yes/no/true/false as booleans; comparing text with "True" is never what was meant
        raise ValueError(f"value {str(value).lower()} is a YAML boolean; quote it to mean text (e.g. 'yes')")
    if not isinstance(value, str | int | float):
        raise ValueError(f"value must be a string, got {type(value).__name__}")


@register("equals")
def equals(check: CheckInput) -> CheckOutput:
    """Output equals the value exactly (a mapping or list value compares as JSON)."""
    if isinstance(check.value, dict | list):
        try:
            parsed = json.loads(check.output)
        except ValueError:
            return CheckOutput(False, f"output is not JSON: {quote(check.output)}")
        ok = parsed == check.value
        return CheckOutput(ok, "output JSON equals the value" if ok else f"output JSON differs: {quote(check.output)}")
    expected = str(check.value)
    if check.output == expected:
        return CheckOutput(True, f"output equals {quote(expected)}")
    return CheckOutput(False, f"output {quote(check.output)} is not {quote(expected)}")


def _contains(check: CheckInput, fold: bool) -> CheckOutput:
    needle = str(check.value)
    hay, key = (check.output.casefold(), needle.casefold()) if fold else (check.output, needle)
    if key in hay:
        return CheckOutput(True, f"output contains {quote(needle)}")
    return CheckOutput(False, f"output does not contain {quote(needle)}: {quote(check.output)}")


@register("contains", validate=_need_string)
def contains(check: CheckInput) -> CheckOutput:
    """Output contains the value (case-sensitive)."""
    return _contains(check, fold=False)


@register("icontains", validate=_need_string)
def icontains(check: CheckInput) -> CheckOutput:
    """Output contains the value, ignoring case."""
    return _contains(check, fold=True)


def _contains_many(check: CheckInput, fold: bool, need_all: bool) -> CheckOutput:
    needles = _strings(check.value)
    hay = check.output.casefold() if fold else check.output
    found = [n for n in needles if (n.casefold() if fold else n) in hay]
    missing = [n for n in needles if n not in found]
    shown = ", ".join(quote(n, 40) for n in (missing if need_all else needles))
    if need_all:
        if not missing:
            return CheckOutput(True, f"output contains all of {len(needles)} values")
        return CheckOutput(False, f"output lacks {shown}: {quote(check.output)}")
    if found:
        return CheckOutput(True, f"output contains {', '.join(quote(n, 40) for n in found)}")
    return CheckOutput(False, f"output contains none of {shown}: {quote(check.output)}")


@register("contains-any", validate=_need_list)
def contains_any(check: CheckInput) -> CheckOutput:
    """Output contains at least one of the values."""
    return _contains_many(check, fold=False, need_all=False)


@register("contains-all", validate=_need_list)
def contains_all(check: CheckInput) -> CheckOutput:
    """Output contains every one of the values."""
    return _contains_many(check, fold=False, need_all=True)


@register("icontains-any", validate=_need_list)
def icontains_any(check: CheckInput) -> CheckOutput:
    """Output contains at least one of the values, ignoring case."""
    return _contains_many(check, fold=True, need_all=False)


@register("icontains-all", validate=_need_list)
def icontains_all(check: CheckInput) -> CheckOutput:
    """Output contains every one of the values, ignoring case."""
    return _contains_many(check, fold=True, need_all=True)


@register("starts-with", validate=_need_string)
def starts_with(check: CheckInput) -> CheckOutput:
    """Output starts with the value."""
    prefix = str(check.value)
    if check.output.startswith(prefix):
        return CheckOutput(True, f"output starts with {quote(prefix)}")
    return CheckOutput(False, f"output does not start with {quote(prefix)}: {quote(check.output)}")


def _valid_regex(value: Any, threshold: float | None) -> None:
    if not isinstance(value, str):
        raise ValueError("value must be a regular expression string")
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None


@register("regex", validate=_valid_regex)
def regex(check: CheckInput) -> CheckOutput:
    """Output matches the regular expression (Python ``re.search``)."""
    match = re.search(str(check.value), check.output)
    if match:
        return CheckOutput(True, f"output matches /{check.value}/ at {quote(match.group(0), 40)}")
    return CheckOutput(False, f"output does not match /{check.value}/: {quote(check.output)}")


def _levenshtein_args(value: Any, threshold: float | None) -> None:
    _need_string(value, threshold)
    if threshold is not None and threshold < 0:
        raise ValueError("threshold (maximum edit distance) must be >= 0")


@register("levenshtein", validate=_levenshtein_args)
def levenshtein(check: CheckInput) -> CheckOutput:
    """Edit distance between output and value is at most ``threshold`` (default 5)."""
    from rapidfuzz.distance import Levenshtein

    limit = 5.0 if check.threshold is None else check.threshold
    distance = Levenshtein.distance(check.output, str(check.value))
    ok = distance <= limit
    relation = "<=" if ok else ">"
    return CheckOutput(
        ok, f"edit distance {distance} {relation} {limit:g} from {quote(str(check.value))}", float(distance)
    )


def _length_bounds(value: Any, threshold: float | None) -> tuple[int | None, int | None]:
    if isinstance(value, int) and not isinstance(value, bool):
        return None, value
    if isinstance(value, dict) and set(value) <= {"min", "max"} and value:
        low, high = value.get("min"), value.get("max")
        for bound in (low, high):
            if bound is not None and (not isinstance(bound, int) or bound < 0):
                raise ValueError("length bounds must be non-negative integers")
        if low is not None and high is not None and low > high:
            raise ValueError(f"length min {low} is above max {high}")
        return low, high
    raise ValueError("value must be a maximum length or a mapping with min and/or max")


def _valid_length(value: Any, threshold: float | None) -> None:
    _length_bounds(value, threshold)


@register("length", validate=_valid_length)
def length(check: CheckInput) -> CheckOutput:
    """Output length in characters is within ``{min, max}`` (a bare number is the maximum)."""
    low, high = _length_bounds(check.value, check.threshold)
    size = len(check.output)
    if low is not None and size < low:
        return CheckOutput(False, f"output has {size} chars, fewer than {low}", float(size))
    if high is not None and size > high:
        return CheckOutput(False, f"output has {size} chars, more than {high}", float(size))
    return CheckOutput(True, f"output has {size} chars", float(size))
