"""How often a case runs, what share of its runs must pass, and the migration from the old ``threshold``.

``threshold`` used to be the pass rate over repeats; it is now promptfoo's test threshold (the weighted assertion
score a run must reach). A test that still writes ``repeat: N`` with ``threshold`` is refused with the new spelling,
rather than quietly judged by the other meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from helm_eval.config import RepeatSpec, SuiteError, TestSpec, line_of


@dataclass(frozen=True, slots=True)
class Repeat:
    """A case's runs, the pass rate they must reach, and how they decide it."""

    n: int = 1
    """Runs; with ``stop_early``, the most runs."""
    pass_rate: float = 1.0
    stop_early: bool = False
    """Runs go out in rounds until the pass rate's interval decides (``repeat: {max: N}``)."""
    confidence: float = 0.95
    decide: Literal["rate", "interval"] = "rate"


def case_repeat(
    test: TestSpec, default: TestSpec, where: tuple[str, Any, tuple[Any, ...]], suite: tuple[str, Any]
) -> Repeat:
    """The repeat policy of ``test`` over ``defaultTest``; ``where``/``suite`` are (file, data, loc) for errors."""
    spec = test.repeat if test.repeat is not None else default.repeat
    threshold_in_test = test.threshold is not None
    if isinstance(spec, int) and spec > 1 and (threshold_in_test or default.threshold is not None):
        name, data, loc = where if threshold_in_test else (suite[0], suite[1], ("defaultTest",))
        line = line_of(data, (*loc, "threshold")) or 1
        threshold = test.threshold if threshold_in_test else default.threshold
        raise SuiteError(
            name,
            line,
            f"threshold: with repeat: {spec}, threshold no longer means a pass rate over the repeats; write "
            f"repeat: {{n: {spec}, pass_rate: {threshold:g}}} for that, or repeat: {{n: {spec}}} to keep threshold "
            "as the weighted assertion score each run must reach (promptfoo's meaning)",
        )
    if spec is None:
        return Repeat()
    if isinstance(spec, RepeatSpec):
        return Repeat(
            spec.runs,
            spec.pass_rate,
            stop_early=spec.max is not None,
            confidence=spec.confidence if spec.confidence is not None else 0.95,
            decide=spec.decide,
        )
    return Repeat(spec)
