"""Assertions on the output's shape: ``word-count`` and ``is-xml`` (promptfoo's meaning)."""

from __future__ import annotations

from typing import Any

from helm_eval._text import quote
from helm_eval.checks._registry import CheckInput, CheckOutput, register


def _word_count_value(value: Any, threshold: float | None) -> None:
    if isinstance(value, bool):
        raise ValueError("value must be a number of words or {min, max}")
    if isinstance(value, int) and value >= 0:
        return
    if isinstance(value, dict) and value and set(value) <= {"min", "max"}:
        if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value.values()):
            raise ValueError("min and max must be whole numbers ≥ 0")
        if "min" in value and "max" in value and value["min"] > value["max"]:
            raise ValueError(f"min ({value['min']}) is more than max ({value['max']})")
        return
    raise ValueError("value must be a number of words or {min, max}")


@register("word-count", validate=_word_count_value)
def word_count(check: CheckInput) -> CheckOutput:
    """The output has exactly this many words (split on whitespace), or between ``min`` and ``max``."""
    count = len(check.output.split())
    value = check.value
    if isinstance(value, int):
        return CheckOutput(count == value, f"output has {count} words (expected {value})")
    low, high = value.get("min"), value.get("max")
    passed = (low is None or count >= low) and (high is None or count <= high)
    bounds = " and ".join(
        s for s in (f"at least {low}" if low is not None else "", f"at most {high}" if high is not None else "") if s
    )
    return CheckOutput(passed, f"output has {count} words (expected {bounds})")


def _required(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, dict):
        value = value.get("requiredElements")
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str) and v for v in value):
        return list(value)
    raise ValueError("value must list required elements (e.g. [root.child]) or be {requiredElements: [...]}")


def _xml_value(value: Any, threshold: float | None) -> None:
    if isinstance(value, dict) and set(value) - {"requiredElements"}:
        raise ValueError("the only key is requiredElements")
    _required(value)


@register("is-xml", value="optional", validate=_xml_value)
def is_xml(check: CheckInput) -> CheckOutput:
    """The output is well-formed XML, with the required elements (dotted paths from the root) if given.

    Parsed with ``defusedxml``: entity declarations (billion laughs) and external references are refused.
    """
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    try:
        root = fromstring(check.output.strip())
    except (ParseError, DefusedXmlException, ValueError) as exc:
        return CheckOutput(False, f"output is not well-formed XML ({type(exc).__name__}: {exc}): {quote(check.output)}")
    missing = []
    for path in _required(check.value):
        parts = path.split(".")
        if parts[0] != root.tag or (len(parts) > 1 and root.find("/".join(parts[1:])) is None):
            missing.append(path)
    if missing:
        return CheckOutput(False, f"XML lacks the element(s) {', '.join(missing)} (root is <{root.tag}>)")
    return CheckOutput(True, f"output is well-formed XML (root <{root.tag}>)")
