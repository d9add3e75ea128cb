"""``assert-set``: nested assertions judged together (promptfoo's meaning).

Without a ``threshold`` every nested assertion must pass; with one, the weighted share of nested assertions that
pass must reach it (``threshold: 0.5``: half of them, by weight).
"""

from __future__ import annotations

from typing import Any

from helm_eval._records import Assertion
from helm_eval.checks._registry import CheckInput, CheckOutput, register, run_check


def _nested(value: Any, threshold: float | None) -> None:
    if value is None:
        return  # as written in a suite: the nested assertions are under ``assert`` and checked one by one
    if not isinstance(value, tuple) or not value or not all(isinstance(a, Assertion) for a in value):
        raise ValueError("give the nested assertions under assert:")
    if threshold is not None and not 0 <= threshold <= 1:
        raise ValueError("threshold must be between 0 and 1 (the share of nested assertions that must pass)")


@register("assert-set", value="optional", validate=_nested)
def assert_set(check: CheckInput) -> CheckOutput:
    """The nested assertions pass: all of them, or a weighted share of at least ``threshold``."""
    nested: tuple[Assertion, ...] = check.value or ()
    verdicts = [
        run_check(
            assertion,
            check.output,
            check.outcome,
            check.vars,
            messages=check.messages,
            judge=check.judge,
            options=check.options,
            cost_usd=check.cost_usd,
            embed=check.embed,
        )
        for assertion in nested
    ]
    total = sum(a.weight for a in nested) or float(len(nested))
    passed = sum((a.weight if total else 1.0) for a, v in zip(nested, verdicts, strict=True) if v.passed)
    score = passed / total if total else 0.0
    failed = [f"{v.assertion}: {v.reason}" for v in verdicts if not v.passed]
    head = f"{len(verdicts) - len(failed)} of {len(verdicts)} nested assertions passed (score {score:.2f})"
    reason = head + (f"; {'; '.join(failed)}" if failed else "")
    if check.threshold is None:
        return CheckOutput(not failed, reason, score)
    return CheckOutput(score + 1e-12 >= check.threshold, reason, score)
