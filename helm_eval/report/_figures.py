"""Figures every CI reporter shows, computed once from the run record.

Counts, pass rate, tokens, cost, budget, what to annotate and in which order, and the gate that turns the
check red.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from helm_eval._records import BudgetSummary, CaseResult, RunRecord

FailOn = Literal["failure", "error", "regression", "significant", "never"]
FAIL_ON_CHOICES: tuple[FailOn, ...] = ("failure", "error", "regression", "significant", "never")

#: pytest's exit status when every test passed, and when nothing was collected
PYTEST_OK, PYTEST_NO_TESTS = 0, 5


@dataclass(frozen=True, slots=True)
class Figures:
    """The headline numbers of a run, as published in outputs, dotenv and metrics."""

    passed: int
    failed: int
    """Failed plus errored cases: everything that is red."""
    errors: int
    skipped: int
    pass_rate: float | None
    """``passed / (passed + failed)``; ``None`` when no case ran to a verdict."""
    tokens: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    budget_remaining: float | None
    """Tokens left under the binding token cap, else dollars left under a USD cap; ``None`` without a budget."""
    budget_unit: str | None

    def outputs(self) -> dict[str, str]:
        """The step outputs / dotenv values as text (empty string when unknown)."""
        return {
            "passed": str(self.passed),
            "failed": str(self.failed),
            "skipped": str(self.skipped),
            "pass-rate": fmt_rate(self.pass_rate),
            "tokens": str(self.tokens),
            "cost-usd": "" if self.cost_usd is None else f"{self.cost_usd:.6f}",
            "budget-remaining": "" if self.budget_remaining is None else _number(self.budget_remaining),
        }


def fmt_rate(rate: float | None) -> str:
    """A pass rate as a plain decimal with 4 places, or empty when unknown."""
    return "" if rate is None else f"{rate:.4f}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.6f}"


def figures(record: RunRecord) -> Figures:
    """Compute the headline numbers of ``record``."""
    totals = record.totals()
    failed = totals["failed"] + totals["error"]
    judged = totals["passed"] + failed
    remaining, unit = budget_remaining(record.budget)
    return Figures(
        passed=totals["passed"],
        failed=failed,
        errors=totals["error"],
        skipped=totals["skipped"],
        pass_rate=totals["passed"] / judged if judged else None,
        tokens=totals["total_tokens"],
        prompt_tokens=totals["prompt_tokens"],
        completion_tokens=totals["completion_tokens"],
        cost_usd=totals.get("cost_usd"),
        budget_remaining=remaining,
        budget_unit=unit,
    )


def budget_remaining(budget: BudgetSummary | None) -> tuple[float | None, str | None]:
    """(remaining, unit) of the binding cap: tokens first, then USD."""
    return (None, None) if budget is None else budget.remaining()


def is_red(case: CaseResult) -> bool:
    """True for a failed or errored case."""
    return case.status in ("failed", "error")


def is_warning(case: CaseResult) -> bool:
    """A case worth a warning: cut by the budget, or passed although some repeats failed (flaky)."""
    if case.status == "skipped":
        return bool(case.skip_reason)
    return case.status == "passed" and 0 < case.passes < case.repeats


def by_importance(cases: Iterable[CaseResult]) -> list[CaseResult]:
    """Most important first: assertion failures before errors, worst pass fraction first, then by place."""

    def key(case: CaseResult) -> tuple[int, float, str, int]:
        rank = {"failed": 0, "error": 1, "passed": 2, "skipped": 3}[case.status]
        fraction = case.passes / case.repeats if case.repeats else 0.0
        return rank, fraction, case.file, case.line or 0

    return sorted(cases, key=key)


def red_cases(record: RunRecord) -> list[CaseResult]:
    """Failed and errored cases, most important first."""
    return by_importance(c for c in record.cases if is_red(c))


def warning_cases(record: RunRecord) -> list[CaseResult]:
    """Budget-cut and flaky cases, most important first (flaky before cut)."""
    return by_importance(c for c in record.cases if is_warning(c))


def failing_assertions(case: CaseResult) -> list[str]:
    """Labels of the assertions that did not pass (``error`` for a case that errored before any verdict)."""
    labels = [v.assertion for v in case.verdicts if not v.passed]
    if not labels and case.status == "error":
        labels = ["error"]
    return labels


def first_reason(case: CaseResult) -> str:
    """Why the case is red (or a warning): the first failing verdict's reason, the error, or the skip reason."""
    for verdict in case.verdicts:
        if not verdict.passed:
            return f"{verdict.assertion}: {verdict.reason}"
    if case.error:
        return case.error
    if case.skip_reason:
        return case.skip_reason
    if case.status == "passed" and case.repeats:
        return f"{case.passes} of {case.repeats} runs passed"
    return case.status


def case_name(case: CaseResult) -> str:
    """The part of the node id after the file: the case id (and prompt)."""
    return case.nodeid.split("::", 1)[1] if "::" in case.nodeid else case.nodeid


def group_by(cases: Iterable[CaseResult], attribute: Literal["suite", "model"]) -> dict[str, list[CaseResult]]:
    """Cases grouped by suite (Python tests by file) or by model, sorted by name."""
    groups: dict[str, list[CaseResult]] = defaultdict(list)
    for case in cases:
        name = (case.suite or case.file) if attribute == "suite" else (case.model or "(none)")
        groups[name].append(case)
    return dict(sorted(groups.items()))


def cost_of(cases: Iterable[CaseResult]) -> float | None:
    """Summed cost, or ``None`` when no case has a known cost."""
    costs = [c.cost_usd for c in cases if c.cost_usd is not None]
    return sum(costs) if costs else None


def gate(record: RunRecord | None, pytest_status: int | None, fail_on: FailOn) -> tuple[bool, str]:
    """(red, reason): whether the check fails under ``fail_on``.

    ``failure``: any failed or errored case, a budget cut whose policy says fail, or pytest not finishing cleanly.
    ``error``: only errored cases or pytest not running the suites (usage, collection or internal error).
    ``regression``: only new failures against a trusted baseline (cases that passed there, or new cases), or the
    run's own gate (a pass-rate floor) being red; without a trusted baseline, as ``failure``.
    ``significant``: only a drop the exact tests find significant (else as ``regression``'s fallback).
    ``never``: always green (publish only).
    """
    if fail_on == "never":
        return False, "fail-on is 'never'"
    broken = pytest_status is not None and pytest_status not in (PYTEST_OK, 1, PYTEST_NO_TESTS)
    if record is None:
        return True, f"no run record (pytest exit status {pytest_status})"
    if broken:
        return True, f"pytest exit status {pytest_status} (the run did not complete)"
    baseline = record.baseline
    if fail_on in ("regression", "significant") and baseline is not None and baseline.found and baseline.trusted:
        budget = record.budget
        if budget is not None and budget.fails_check:
            return True, f"budget exhausted: {budget.cut} case(s) cut"
        if fail_on == "regression" and baseline.blocking:
            return True, f"{len(baseline.blocking)} new failure(s) against the baseline"
        if fail_on == "significant" and baseline.significant:
            return True, f"a significant drop against the baseline ({baseline.headline})"
        if baseline.below_floor:
            return True, "; ".join(baseline.below_floor)
        what = "no new failures" if fail_on == "regression" else "no significant drop"
        return False, f"{what} against the baseline ({baseline.headline})"
    numbers = figures(record)
    if numbers.errors:
        return True, f"{numbers.errors} case(s) errored"
    if fail_on == "error":
        return False, "no errors (assertion failures do not fail the check with fail-on 'error')"
    if numbers.failed:
        return True, f"{numbers.failed} case(s) failed"
    budget = record.budget
    if budget is not None and budget.fails_check:
        return True, f"budget exhausted: {budget.cut} case(s) cut"
    if pytest_status == 1:
        return True, "pytest exit status 1"
    return False, "all cases passed"


def runs_made(case: CaseResult) -> str:
    """The runs a repeated case made, e.g. ``3/4 runs passed, stopped after 4 of 20``; empty for a single run."""
    if case.repeats <= 1 and not case.stopped_early:
        return ""
    stop = f", stopped after {case.repeats} of {case.max_repeats}" if case.stopped_early else ""
    return f"{case.passes}/{case.repeats} runs passed{stop}"


def stopping_line(record: RunRecord) -> str | None:
    """What repeats that stop early saved, in one line; ``None`` when no case could stop early."""
    sampled = [c for c in record.cases if c.max_repeats and c.repeats]
    if not sampled:
        return None
    stopped = sum(1 for c in sampled if c.stopped_early)
    made, most = sum(c.repeats for c in sampled), sum(c.max_repeats for c in sampled)
    saved = sum(c.repeat_tokens_saved for c in sampled)
    return (
        f"early stopping: {stopped:,} of {len(sampled):,} sampled cases stopped early, {made:,} of {most:,} runs "
        f"made; ~{saved:,} tokens saved against making every run"
    )


def cascade_line(record: RunRecord) -> str | None:
    """What a judge cascade saved, in one line; ``None`` when no cascade judged anything."""
    totals = record.totals()
    first, escalated = totals["judge_first_decided"], totals["judge_escalated"]
    if not first and not escalated:
        return None
    return (
        f"judge cascade: {first:,} of {first + escalated:,} verdicts decided by the first judge, {escalated:,} "
        f"escalated; ~{totals['judge_tokens_saved']:,} larger-judge tokens saved against always asking it"
    )
