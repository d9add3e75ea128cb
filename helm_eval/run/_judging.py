"""The judge as a case's checks see it: judge prompts sent as ``kind="judge"`` calls through the run.

Judge calls take the same path as the system under test (``HelmEvalRun.call``: planning, cache, budget
admission, dispatch with retries, ledger), so they are budgeted, cached, attributed to the case's owner and
recorded as judge rows. A verdict whose score lands within ``judge.rejudge.margin`` of its threshold is judged
again with the next seeds, and the majority decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from helm_eval._records import Assertion, Call, Case, Outcome, Verdict
from helm_eval.checks import CheckError, run_check
from helm_eval.config import JudgeSpec

if TYPE_CHECKING:
    from helm_eval.run._items import BudgetCut
    from helm_eval.run._session import HelmEvalRun


@dataclass(slots=True)
class CaseJudge:
    """Sends one case's judge prompts; remembers the outcomes (judge tokens) and a budget cut, if any."""

    run: HelmEvalRun
    case: Case
    spec: JudgeSpec
    outcomes: list[Outcome] = field(default_factory=list)
    cut: BudgetCut | None = None
    seed_offset: int = 0

    def __call__(self, messages: Sequence[dict[str, str]], params: dict[str, Any]) -> Outcome:
        """Send ``messages`` to the judge endpoint; ``params`` override the judge's sampling settings."""
        from helm_eval.run._items import BudgetCut

        if self.cut is not None:
            raise CheckError(str(self.cut))
        name, base_url, model = self.target()
        sampling = {
            "temperature": self.spec.temperature,
            "seed": self.spec.seed + self.seed_offset,
            "max_tokens": self.spec.max_tokens,
            **params,
        }
        call = Call(name, base_url, model, tuple(messages), sampling, case_id=self.case.id, kind="judge")
        try:
            outcome = self.run.call(call, self.case)
        except BudgetCut as cut:
            self.cut = cut
            raise CheckError(str(cut)) from None
        self.outcomes.append(outcome)
        if outcome.error:
            raise CheckError(f"judge call to endpoint {name!r} ({base_url}) failed: {outcome.error}")
        return outcome

    def target(self) -> tuple[str, str, str]:
        """The judge's endpoint name, base URL and model."""
        endpoints = self.run.endpoints
        name = self.spec.endpoint or self.run.planner.default
        endpoint = endpoints.get(name)
        if endpoint is None:
            raise CheckError(f"judge endpoint {name!r} is not configured (configured: {', '.join(sorted(endpoints))})")
        model = self.spec.model or endpoint.model
        if model is None:
            raise CheckError(f"no model for judge endpoint {name!r}: set judge.model or the endpoint's model")
        return name, endpoint.base_url, model

    def with_seed_offset(self, offset: int) -> CaseJudge:
        """The same judge sampling with ``seed + offset`` (for re-judging); outcomes are shared."""
        other = CaseJudge(self.run, self.case, self.spec, self.outcomes, self.cut, offset)
        return other

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens of every judge call so far (cache hits count 0)."""
        return sum(o.total_tokens or 0 for o in self.outcomes)


def judged_verdict(assertion: Assertion, outcome: Outcome, case: Case, judge: CaseJudge) -> Verdict:
    """Apply one assertion with the judge at hand; re-judge a near-threshold verdict when configured."""
    calls_before = len(judge.outcomes)
    verdict = run_check(assertion, outcome.text, outcome, case.vars, messages=case.messages, judge=judge)
    rejudge = judge.spec.rejudge
    used_judge = len(judge.outcomes) > calls_before
    if (
        rejudge is None
        or rejudge.times <= 1
        or not used_judge
        or verdict.status == "error"
        or verdict.score is None
        or verdict.threshold is None
        or abs(verdict.score - verdict.threshold) > rejudge.margin + 1e-12
    ):
        return verdict
    verdicts = [verdict]
    for offset in range(1, rejudge.times):
        again = run_check(
            assertion, outcome.text, outcome, case.vars, messages=case.messages, judge=judge.with_seed_offset(offset)
        )
        if again.status == "error":
            return again
        verdicts.append(again)
    return majority(verdicts)


def majority(verdicts: list[Verdict]) -> Verdict:
    """The majority verdict of several judgments: its status, the median score and a reason from its side."""
    passed = [v for v in verdicts if v.passed]
    wins = len(passed) * 2 > len(verdicts)
    side = passed if wins else [v for v in verdicts if not v.passed]
    scores = sorted(v.score for v in verdicts if v.score is not None)
    median = scores[len(scores) // 2] if scores else None
    first = side[0]
    return Verdict(
        first.assertion,
        "pass" if wins else "fail",
        f"{first.reason} (re-judged near the threshold: {len(passed)} of {len(verdicts)} judgments passed)",
        score=median,
        threshold=first.threshold,
    )
