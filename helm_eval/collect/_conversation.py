"""Multi-turn tests: what a suite may say about turns, checked at load time."""

from __future__ import annotations

from collections.abc import Sequence

from helm_eval._records import Assertion
from helm_eval.config import SuiteError


def check_turns(name: str, assertions: Sequence[Assertion], turns: int) -> None:
    """Refuse an assertion aimed at a turn the test does not have (a ``SuiteError`` at the assertion's line)."""
    for assertion in assertions:
        if assertion.turn is not None and assertion.turn > turns:
            has = "one turn (no turns: list)" if turns == 1 else f"{turns} turns"
            raise SuiteError(
                name,
                assertion.line or 1,
                f"assertion {assertion.label!r}: turn {assertion.turn}, but the test has {has}",
            )
