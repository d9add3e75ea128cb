"""Applying assertion types from Python tests, with the same registry and messages as YAML suites."""

from __future__ import annotations

from typing import Any

from helm_eval._records import Assertion, Outcome, Verdict
from helm_eval.checks._registry import parse_type, run_check, validate_assertion


def check(output: str | Outcome, type: str, value: Any = None, *, threshold: float | None = None) -> Verdict:
    """Apply assertion ``type`` (e.g. ``"contains"``, ``"not-regex"``) to a model output.

    Returns the ``Verdict``, which is truthy when the assertion held. Raises ``ValueError`` for an unknown type
    or a value the type cannot use, as a suite would fail to collect.
    """
    problem = validate_assertion(type, value, threshold)
    if problem is not None:
        raise ValueError(problem)
    kind, negate = parse_type(type)
    outcome = output if isinstance(output, Outcome) else None
    text = output.text if isinstance(output, Outcome) else output
    return run_check(Assertion(kind, value, threshold, negate=negate), text, outcome)


def assert_check(output: str | Outcome, type: str, value: Any = None, *, threshold: float | None = None) -> Verdict:
    """Like ``check`` but raises ``AssertionError`` with the check's reason when it does not pass."""
    verdict = check(output, type, value, threshold=threshold)
    if not verdict.passed:
        raise AssertionError(f"{verdict.assertion}: {verdict.reason}")
    return verdict
