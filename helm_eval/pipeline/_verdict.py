"""The verdict stage: a case's assertions over each of its outcomes, judges included, and the case's status.

Judge calls take the same path as the system under test (``Pipeline.call``: planning, cache, budget admission,
dispatch with retries, ledger), so they are budgeted, cached, attributed to the case's owner and recorded as
judge rows. A verdict whose score lands within ``judge.rejudge.margin`` of its threshold is judged again with
the next seeds, and the majority decides.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from helm_eval._records import Assertion, Call, Case, Outcome, Verdict
from helm_eval._text import quote
from helm_eval.checks import CheckError, EmbedFn, run_check
from helm_eval.config import BudgetCut, JudgeModel, JudgeSpec
from helm_eval.pipeline._conversation import history
from helm_eval.pipeline._scoring import run_passed, run_score
from helm_eval.pipeline._stopping import case_decision, rate_interval


class Caller(Protocol):
    """What judging needs from the pipeline: one admitted, dispatched and recorded call, and where judges go."""

    def call(self, call: Call, case: Case) -> Outcome:
        """Send ``call`` for ``case`` and wait for it; raises ``BudgetCut`` when the budget refuses it."""
        ...

    def judge_target(self, judge: JudgeModel) -> tuple[str, str, str]:
        """The judge's endpoint name, base URL and model; raises ``CheckError`` when it cannot be resolved."""
        ...

    def cost_of(self, outcomes: Sequence[Outcome]) -> float | None:
        """Token-priced cost of ``outcomes``; ``None`` when no per-token price is known."""
        ...

    def embedder(self, case: Case, outcomes: list[Outcome]) -> EmbedFn | None:
        """Embeds texts for ``case``'s checks through the pipeline; ``None`` without an embedding endpoint.

        Each call's outcome is appended to ``outcomes``.
        """
        ...


@dataclass(slots=True)
class CascadeTally:
    """What a judge cascade did for one case (shared by the case's judges at every level)."""

    first_decided: int = 0
    escalated: int = 0
    tokens_saved: int = 0
    asked: int = 0
    """Calls to a judge model (embedding calls, which share the judge's outcomes for their tokens, not counted)."""


@dataclass(slots=True)
class CaseJudge:
    """Sends one case's judge prompts; remembers the outcomes (judge tokens) and a budget cut, if any."""

    caller: Caller
    case: Case
    spec: JudgeSpec
    outcomes: list[Outcome] = field(default_factory=list)
    cut: BudgetCut | None = None
    seed_offset: int = 0
    level: int = 0
    """Which judge of ``spec.judges`` this is (0: the first, cheapest of a cascade)."""
    tally: CascadeTally = field(default_factory=CascadeTally)

    def __call__(self, messages: Sequence[dict[str, str]], params: dict[str, Any]) -> Outcome:
        """Send ``messages`` to the judge endpoint; ``params`` override the judge's sampling settings."""
        if self.cut is not None:
            raise CheckError(str(self.cut))
        call = self.build_call(messages, params)
        try:
            outcome = self.caller.call(call, self.case)
        except BudgetCut as cut:
            self.cut = cut
            raise CheckError(str(cut)) from None
        self.outcomes.append(outcome)
        self.tally.asked += 1
        if outcome.error:
            raise CheckError(f"judge call to endpoint {call.endpoint!r} ({call.base_url}) failed: {outcome.error}")
        return outcome

    def build_call(self, messages: Sequence[dict[str, str]], params: dict[str, Any]) -> Call:
        """The judge call for ``messages`` (what is sent ahead is built here too, so both are the same call)."""
        name, base_url, model = self.caller.judge_target(self.spec.judges[self.level])
        sampling = {
            "temperature": self.spec.temperature,
            "seed": self.spec.seed + self.seed_offset,
            "max_tokens": self.spec.max_tokens,
            **params,
        }
        if not self.spec.structured:
            sampling.pop("response_format", None)
        return Call(name, base_url, model, tuple(messages), sampling, case_id=self.case.id, kind="judge")

    def with_seed_offset(self, offset: int) -> CaseJudge:
        """The same judge sampling with ``seed + offset`` (for re-judging); outcomes are shared."""
        return CaseJudge(self.caller, self.case, self.spec, self.outcomes, self.cut, offset, self.level, self.tally)

    def next_level(self) -> CaseJudge | None:
        """The next (larger) judge of the cascade, sharing outcomes and tally; ``None`` after the last."""
        if self.level + 1 >= len(self.spec.judges):
            return None
        return CaseJudge(self.caller, self.case, self.spec, self.outcomes, self.cut, self.seed_offset,
                         self.level + 1, self.tally)  # fmt: skip

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens of every judge call so far (cache hits count 0)."""
        return sum(o.total_tokens or 0 for o in self.outcomes)


def judged_verdict(assertion: Assertion, outcome: Outcome, case: Case, judge: CaseJudge) -> Verdict:
    """Apply one assertion with the judge at hand, up a cascade while undecided; re-judge near the threshold."""
    asked_before = judge.tally.asked
    turns = len(outcome.turns)
    turn = min(assertion.turn or turns, turns)
    messages = history(case, outcome, turn) if turns > 1 else case.messages
    if turn < turns:
        outcome = outcome.turns[turn - 1]
    # the whole conversation, or the one turn asked about
    cost = judge.caller.cost_of([outcome] if assertion.turn is not None else outcome.turns)
    embed = judge.caller.embedder(case, judge.outcomes)  # counted with the judge's tokens and cost

    def check(with_judge: CaseJudge) -> Verdict:
        before = len(with_judge.outcomes)
        verdict = run_check(
            assertion,
            outcome.text,
            outcome,
            case.vars,
            messages=messages,
            judge=with_judge,
            options=case.options,
            cost_usd=cost,
            embed=embed,
        )
        return _inconclusive_if_judged(verdict, with_judge, before)

    verdict, judge = _cascade(check, judge)
    if assertion.turn is not None and turns > 1:
        verdict = dataclasses.replace(verdict, reason=f"turn {turn}: {verdict.reason}")
    rejudge = judge.spec.rejudge
    used_judge = judge.tally.asked > asked_before  # a judge model was asked (not only an embedding made)
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
        again = check(judge.with_seed_offset(offset))
        if again.status == "error":
            return again
        verdicts.append(again)
    return majority(verdicts)


def _cascade(check: Callable[[CaseJudge], Verdict], judge: CaseJudge) -> tuple[Verdict, CaseJudge]:
    """The verdict of the first judge, or of a larger one of the cascade when the first is undecided."""
    root, calls_before, asked_before = judge, len(judge.outcomes), judge.tally.asked
    verdict = check(judge)
    if judge.tally.asked == asked_before or len(judge.spec.judges) < 2:
        return verdict, judge  # no judge model decided it (e.g. ``similar``, which only embeds): nothing to escalate
    first = verdict
    first_tokens = sum(o.total_tokens or 0 for o in judge.outcomes[calls_before:])
    while judge.cut is None and _undecided(verdict, judge.spec.escalate_within):
        larger = judge.next_level()
        if larger is None:
            break
        verdict = check(larger)
        judge = larger
    root.cut = root.cut or judge.cut
    if judge is root:
        root.tally.first_decided += 1
        root.tally.tokens_saved += first_tokens
        return verdict, judge
    root.tally.escalated += 1
    why = "gave no valid verdict" if first.inconclusive else f"scored {first.score:.2f}, near the threshold"
    return dataclasses.replace(verdict, reason=f"{verdict.reason} (escalated: the first judge {why})"), judge


def _undecided(verdict: Verdict, within: float) -> bool:
    """A cascade's judge defers: no valid verdict, or a score within ``within`` of the threshold."""
    if verdict.inconclusive:
        return True
    if verdict.status == "error" or verdict.score is None:
        return False
    threshold = verdict.threshold if verdict.threshold is not None else 0.5
    return abs(verdict.score - threshold) <= within + 1e-12


def _inconclusive_if_judged(verdict: Verdict, judge: CaseJudge, calls_before: int) -> Verdict:
    """Mark an ``error`` verdict reached after asking the judge as inconclusive (the judge failed, not the model).

    A budget cut is not: the case is skipped. An error before any judge call (a check's own problem) is not either.
    """
    if verdict.status != "error" or judge.cut is not None or len(judge.outcomes) == calls_before:
        return verdict
    return dataclasses.replace(verdict, inconclusive=True, reason=f"inconclusive: {verdict.reason}")


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


@dataclass(slots=True)
class CaseVerdict:
    """A case judged over all its outcomes (one per repeat)."""

    runs: list[list[Verdict]]
    """Per outcome, one verdict per assertion."""
    judge: CaseJudge
    shown: int
    """Index of the run the reports show: the first failing one, else the first."""
    passed_runs: list[bool] = field(default_factory=list)
    """Per outcome, whether the run passed (its assertions, weights and the test threshold)."""
    scores: list[float | None] = field(default_factory=list)
    """Per outcome, the weighted assertion score (``None`` when no assertion carries weight)."""

    @property
    def passes(self) -> int:
        """How many runs passed."""
        return sum(self.passed_runs)

    @property
    def score(self) -> float | None:
        """The mean of the runs' weighted scores."""
        known = [s for s in self.scores if s is not None]
        return round(sum(known) / len(known), 6) if known else None

    @property
    def repeats(self) -> int:
        """How many runs were judged."""
        return len(self.runs)

    sampling_cut: BudgetCut | None = None
    """The budget cut that refused a later round of an early-stopping case's runs."""

    @property
    def cut(self) -> BudgetCut | None:
        """The budget cut that stopped a judge call or a round of runs, if any (the case is then skipped)."""
        return self.judge.cut or self.sampling_cut

    def decision(self, case: Case) -> bool | None:
        """Whether the runs pass ``case`` under its rule (``None``: its interval is inconclusive)."""
        return case_decision(case, self.passes, self.repeats)

    def passed(self, case: Case) -> bool:
        """True when the runs pass ``case``: its pass rate (or with ``decide: interval``, its interval) is met."""
        return self.decision(case) is True

    def inconclusive(self, case: Case) -> Verdict | None:
        """The judge's failure that decides the case, if any.

        That is when only judges that gave no valid verdict stand between the case and passing; ``None`` when it
        passed, or when its model failed whatever the judge would have said.
        """
        if self.passed(case) or not self.repeats:
            return None
        open_runs = [
            run
            for run, passed in zip(self.runs, self.passed_runs, strict=True)
            if not passed and _only_judge_failed(run)
        ]
        if not open_runs or case_decision(case, self.passes + len(open_runs), self.repeats) is not True:
            return None
        return next(v for v in open_runs[0] if v.inconclusive)

    def explain(self, case: Case, outcomes: Sequence[Outcome]) -> str:
        """Why the case failed, in a few lines: the shown run's output and each assertion's verdict."""
        passes = self.passed_runs
        n, k = len(passes), sum(passes)
        head = f"{case.file}:{case.line}: {case.id}"
        shown_score = self.scores[self.shown] if self.scores else None
        scored = (
            f" (score {shown_score:.2f}, needs {case.score_threshold:g})"
            if case.score_threshold is not None and shown_score is not None
            else ""
        )
        stop = f"; stopped after {n} of {case.repeat} runs" if case.stop_early and n < case.repeat else ""
        if n == 1:
            lines = [f"{head}: failed{stop}{scored}"]
        else:
            low, high = rate_interval(k, n, case.confidence)
            rule = "its interval's lower bound reaching " if case.decide == "interval" else ""
            lines = [
                f"{head}: {k} of {n} runs passed ({k / n:.0%}, {case.confidence:.0%} CI {low:.0%}–{high:.0%}); "
                f"needs {rule}{case.threshold:.0%}{stop}; showing run {self.shown + 1}{scored}"
            ]
        lines.append(f"  output: {quote(outcomes[self.shown].text, 300)}")
        for verdict in self.runs[self.shown]:
            mark = {"pass": "pass", "fail": "FAIL", "error": "ERROR"}[verdict.status]
            lines.append(f"  {mark} {verdict.assertion}: {verdict.reason}")
        if n > 1:
            for index, verdicts in enumerate(self.runs):
                failed = [v.assertion for v in verdicts if not v.passed]
                if failed and index != self.shown and not passes[index]:
                    lines.append(f"  run {index + 1}: FAIL {', '.join(failed)}")
        return "\n".join(lines)


def _only_judge_failed(run: Sequence[Verdict]) -> bool:
    return all(v.passed or v.inconclusive for v in run)


def judge_case(
    caller: Caller, case: Case, outcomes: Sequence[Outcome], spec: JudgeSpec, judge: CaseJudge | None = None
) -> CaseVerdict:
    """Apply every assertion of ``case`` to each outcome, with a judge whose calls go through ``caller``.

    ``judge`` carries on an earlier judgment of the case's runs (the rounds of an early stop): its judge calls,
    budget cut and cascade tally.
    """
    judge = judge if judge is not None else CaseJudge(caller, case, spec)
    runs = [[judged_verdict(a, o, case, judge) for a in case.assertions] for o in outcomes]
    passes = [run_passed(case, verdicts) for verdicts in runs]
    scores = [run_score(case.assertions, verdicts) for verdicts in runs]
    return case_verdict(runs, judge, passes, scores)


def case_verdict(
    runs: list[list[Verdict]], judge: CaseJudge, passes: list[bool], scores: list[float | None]
) -> CaseVerdict:
    """The verdict over judged runs.

    It shows the first run the model failed, else the first the judge could not decide, else the first.
    """
    failed = [not p and not _only_judge_failed(r) for p, r in zip(passes, runs, strict=True)]
    undecided = [not p for p in passes]
    shown = failed.index(True) if True in failed else (undecided.index(True) if True in undecided else 0)
    return CaseVerdict(runs, judge, shown, passes, scores)
