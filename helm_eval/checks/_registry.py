"""The one registry of check types: deterministic assertions, guardrails and judges all register here.

A check is a function from ``CheckInput`` to ``CheckOutput``. Its ``reason`` states a fact about the output
("output does not contain '4'"), true whichever way the check is negated, so ``not-`` needs no extra text.
Third-party checks register through the ``helm_eval.checks`` entry-point group, or are named by import path
(``python:mypkg.checks:no_profanity``).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from types import FrameType
from typing import Any

from helm_eval._records import Assertion, Outcome, Verdict
from helm_eval._text import excerpt
from helm_eval.checks._python import resolve
from helm_eval.checks._types import (
    PYTHON_PREFIX,
    CheckError,
    CheckFn,
    CheckInput,
    CheckOutput,
    CheckType,
    EmbedFn,
    JudgeFn,
    Validator,
    ValueRule,
)

ENTRY_POINT_GROUP = "helm_eval.checks"


class CheckRegistry:
    """Name → check type. One process-wide instance, ``REGISTRY``; entry points load on first lookup."""

    def __init__(self) -> None:
        self._types: dict[str, CheckType] = {}
        self._entry_points_loaded = False
        self._python: dict[str, CheckType] = {}

    def register(
        self,
        name: str,
        *,
        value: ValueRule = "required",
        validate: Validator | None = None,
    ) -> Callable[[CheckFn], CheckFn]:
        """Decorator registering ``fn`` as check type ``name`` (without ``not-``)."""

        def decorate(fn: CheckFn) -> CheckFn:
            if name.startswith("not-"):
                raise ValueError(f"check name {name!r} must not start with 'not-'")
            doc = (fn.__doc__ or "").strip().splitlines()
            ours = fn.__module__.startswith("helm_eval.checks.")
            self._types[name] = CheckType(name, fn, value, validate, doc[0] if doc else "", ours)
            return fn

        return decorate

    def get(self, name: str) -> CheckType | None:
        """The check type called ``name``, or ``None``."""
        if name.startswith(PYTHON_PREFIX):
            try:
                return self.python_check(name)
            except ValueError:
                return None
        if name not in self._types and not self._entry_points_loaded:
            self._load_entry_points()
        return self._types.get(name)

    def python_check(self, ref: str, root: Path | None = None) -> CheckType:
        """The check named by import path ``python:module:function``, imported once; ``ValueError`` if unusable.

        ``root`` (the rootdir) is where a module not found on ``sys.path`` is looked for.
        """
        check = self._python.get(ref)
        if check is None:
            check = self._python[ref] = resolve(ref, self._types.values(), root)
        return check

    def names(self) -> list[str]:
        """All registered check type names, sorted."""
        self._load_entry_points()
        return sorted(self._types)

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            ep.load()  # importing the module runs its @REGISTRY.register decorators


REGISTRY = CheckRegistry()
register = REGISTRY.register


def parse_type(raw: str) -> tuple[str, bool]:
    """Split ``not-contains`` into ``("contains", True)``."""
    if raw.startswith("not-"):
        return raw[4:], True
    return raw, False


def validate_assertion(raw_type: str, value: Any, threshold: float | None, *, root: Path | None = None) -> str | None:
    """Problem with an assertion as written, or ``None`` when it is usable.

    ``root`` is where a ``python:`` check's module is looked for when ``sys.path`` lacks it.
    """
    name, _ = parse_type(raw_type)
    if name.startswith(PYTHON_PREFIX):
        try:
            REGISTRY.python_check(name, root)
        except ValueError as exc:
            return f"assertion {raw_type!r}: {exc}"
    check = REGISTRY.get(name)
    if check is None:
        import difflib

        close = difflib.get_close_matches(name, REGISTRY.names(), n=1)
        hint = f" (did you mean {('not-' if raw_type.startswith('not-') else '') + close[0]!r}?)" if close else ""
        return f"unknown assertion type {raw_type!r}{hint}; known types: {', '.join(REGISTRY.names())}"
    if check.value == "required" and value is None:
        return f"assertion {raw_type!r} needs a value"
    if check.value == "none" and value is not None:
        return f"assertion {raw_type!r} takes no value"
    if check.validate is not None:
        try:
            check.validate(value, threshold)
        except (ValueError, TypeError) as exc:
            return f"assertion {raw_type!r}: {exc}"
    return None


def run_check(
    assertion: Assertion,
    output: str,
    outcome: Outcome | None = None,
    vars: dict[str, Any] | None = None,
    *,
    messages: Sequence[dict[str, str]] = (),
    judge: JudgeFn | None = None,
    options: Mapping[str, Any] | None = None,
    cost_usd: float | None = None,
    embed: EmbedFn | None = None,
) -> Verdict:
    """Apply one assertion to one output; a check that raises gives an ``error`` verdict, not a crash.

    That includes ``SystemExit`` and a ``KeyboardInterrupt`` the check raises itself (a team's check calling
    ``sys.exit()``); a real Ctrl-C while the check runs still stops the run.
    """
    check = REGISTRY.get(assertion.type)
    if check is None:
        return Verdict(assertion.label, "error", f"unknown assertion type {assertion.label!r}")
    value, threshold = assertion.value, assertion.threshold
    given = CheckInput(output, value, threshold, outcome, vars or {}, messages, judge, options or {}, cost_usd, embed)
    if check.ours:  # raises no KeyboardInterrupt of its own: any is the keyboard's, no handler swap needed
        return _applied(check, assertion, given, lambda: True)
    with _watching_ctrl_c() as pressed:
        return _applied(check, assertion, given, pressed)


def _applied(check: CheckType, assertion: Assertion, given: CheckInput, pressed: Callable[[], bool]) -> Verdict:
    try:
        found = check.fn(given)
    except CheckError as exc:
        return Verdict(assertion.label, "error", str(exc), threshold=assertion.threshold)
    except Exception as exc:  # a check's own bug or bad runtime data must not abort the run
        return Verdict(assertion.label, "error", f"{type(exc).__name__}: {exc}", threshold=assertion.threshold)
    except GeneratorExit:
        raise
    except BaseException as exc:  # SystemExit, KeyboardInterrupt, ... raised by the check's own code
        if isinstance(exc, KeyboardInterrupt) and pressed():
            raise
        text = " ".join(str(exc).split())
        reason = f"{assertion.type} raised {type(exc).__name__}" + (f": {excerpt(text)}" if text else "")
        return Verdict(assertion.label, "error", reason, threshold=assertion.threshold)
    passed = found.passed != assertion.negate
    return Verdict(
        assertion.label,
        "pass" if passed else "fail",
        found.reason,
        score=found.score,
        threshold=assertion.threshold if assertion.threshold is not None else found.threshold,
    )


@contextmanager
def _watching_ctrl_c() -> Iterator[Callable[[], bool]]:
    """Tell a real Ctrl-C (SIGINT) from a ``KeyboardInterrupt`` raised by code: yields "was SIGINT received?".

    Python's SIGINT handler, when installed, is wrapped to note the signal before it raises. Off the main thread,
    or with SIGINT ignored, no ``KeyboardInterrupt`` can come from the keyboard. Our own checks raise none
    themselves, so ``run_check`` does not pay for swapping the handler twice per check for them.
    """
    received = False
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield lambda: False
        return

    def note(signum: int, frame: FrameType | None) -> Any:
        nonlocal received
        received = True
        return previous(signum, frame)

    signal.signal(signal.SIGINT, note)
    try:
        yield lambda: received
    finally:
        signal.signal(signal.SIGINT, previous)


__all__ = [
    "ENTRY_POINT_GROUP",
    "PYTHON_PREFIX",
    "REGISTRY",
    "CheckError",
    "CheckFn",
    "CheckInput",
    "CheckOutput",
    "CheckRegistry",
    "CheckType",
    "EmbedFn",
    "JudgeFn",
    "Validator",
    "ValueRule",
    "parse_type",
    "register",
    "run_check",
    "validate_assertion",
]
