"""Assertions beyond one output: aimed at a turn of a conversation, or nested in an ``assert-set``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from helm_eval._records import Assertion
from helm_eval.config import AssertionSpec, SuiteError

Build = Callable[[str, Any, list[AssertionSpec], tuple[Any, ...], "Path | None"], list[Assertion]]


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


def nested_assertions(
    name: str, data: Any, spec: AssertionSpec, loc: tuple[Any, ...], line: int | None, root: Path | None, build: Build
) -> tuple[Assertion, ...]:
    """The nested assertions of an ``assert-set`` (built and checked like any other), as its value."""
    if spec.value is not None or not spec.assert_:
        raise SuiteError(name, line or 1, "assert-set: give the nested assertions under assert: (and no value)")
    nested = build(name, data, spec.assert_, (*loc, "assert"), root)
    if any(a.turn is not None for a in nested):
        raise SuiteError(name, line or 1, "assert-set: put turn: on the set, not on the assertions inside it")
    return tuple(nested)
