"""The verdict half of the pipeline: a case's outcomes gathered into a result, then judged.

``Evaluation`` belongs to one ``Pipeline`` and uses its call path for every judge call (``Pipeline.call``:
admission, cache, dispatch, ledger), so judges are budgeted, cached and recorded like the system under test.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from helm_eval._records import Call, Case, CaseResult, Outcome
from helm_eval._text import excerpt
from helm_eval.checks import CheckError, EmbedFn, judge_request
from helm_eval.config import BudgetCut, HelmEvalError, JudgeModel, Unavailable
from helm_eval.dispatch import Endpoint
from helm_eval.ledger import Denial
from helm_eval.pipeline._conversation import all_turns, shown_tool_calls, transcript
from helm_eval.pipeline._recording import Recorder
from helm_eval.pipeline._redaction import Redactor
from helm_eval.pipeline._sampling import Sampling
from helm_eval.pipeline._scoring import named_scores
from helm_eval.pipeline._settings import RunSettings
from helm_eval.pipeline._stopping import rate_interval
from helm_eval.pipeline._verdict import CaseJudge, CaseVerdict, judge_case
from helm_eval.pipeline._waiting import when_all_done
from helm_eval.plan import Planner

OUTPUT_EXCERPT = 500
"""Characters of a case's output kept in the run record."""
PROMPT_MESSAGES = 8
"""Most prompt messages kept in the run record (the last ones: the turn being evaluated)."""


@dataclass(slots=True)
class Gathered:
    """A case's outcomes and its result so far (usage, cost, estimates, owner), before any verdict."""

    outcomes: list[Outcome]
    result: CaseResult
    error: str | None = None
    """Set when a call failed for good: the case is an error, with this explanation."""


def case_key(case: Case) -> str:
    """How the pipeline tells cases apart: file and id (the pytest node id of a suite case)."""
    return f"{case.suite_file}::{case.id}"


@dataclass(slots=True)
class _SentAhead:
    """The judge calls sent for one case as soon as its outputs arrived, by call identity."""

    ready: threading.Event = field(default_factory=threading.Event)
    """Set once everything that could be sent ahead for the case was (or nothing will be)."""
    sent: dict[str, concurrent.futures.Future[Outcome] | Denial] = field(default_factory=dict)


def _identity(call: Call) -> str:
    return json.dumps([call.endpoint, call.model, call.messages, call.params], sort_keys=True, default=str)


def without_response_format(call: Call) -> Call:
    """``call`` without its ``response_format`` (a plain prompt: the judge's reply is then parsed as text)."""
    params = {k: v for k, v in call.params.items() if k != "response_format"}
    return dataclasses.replace(call, params=params)


def tokens_saved(result: CaseResult, most: int) -> int:
    """What the runs not made would have cost: the mean tokens of a run made (judge calls included) per run."""
    if not result.repeats or result.repeats >= most:
        return 0
    per_run = (result.total_tokens + result.judge_tokens) / result.repeats
    return round(per_run * (most - result.repeats))


def inconclusive_rate(case: Case, result: CaseResult) -> str:
    """Why a case decided by its interval is neither passed nor failed, in one line."""
    k, n = result.passes, result.repeats
    low, high = result.pass_rate_ci or (0.0, 1.0)
    made = f"all {n} runs made" if n >= case.repeat else f"{n} runs made"
    return (
        f"inconclusive: {k} of {n} runs passed ({k / n if n else 0:.0%}); the {case.confidence:.0%} interval "
        f"{low:.0%}–{high:.0%} holds the required pass rate {case.threshold:g} ({made}); allow more runs (max) or "
        "lower the confidence"
    )


class Host(Protocol):
    """What the verdict stage uses of its pipeline (``Pipeline`` is the one implementation)."""

    settings: RunSettings
    redactor: Redactor
    skip_unavailable: bool

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        """Resolved endpoints."""
        ...

    @property
    def planner(self) -> Planner:
        """The planner (its ``default`` endpoint is the judge's default)."""
        ...

    @property
    def recorder(self) -> Recorder:
        """The record stage."""
        ...

    def submit(self, cases: Sequence[Case]) -> None:
        """Send the calls of ``cases`` not sent yet."""
        ...

    def outcomes(self, case: Case) -> list[Outcome]:
        """Wait for ``case``'s outcomes."""
        ...

    def calls_of(self, case: Case) -> list[Call]:
        """The calls sent for ``case``."""
        ...

    def owner(self, case: Case) -> str | None:
        """Team the case is attributed to."""
        ...

    def call(self, call: Call, case: Case) -> Outcome:
        """One call through admission and dispatch; raises ``BudgetCut``."""
        ...

    def send(self, call: Call, case: Case) -> concurrent.futures.Future[Outcome] | Denial:
        """Admit and dispatch one call without waiting for it; thread-safe."""
        ...

    def embedder(self, case: Case, outcomes: list[Outcome]) -> EmbedFn | None:
        """Embeds texts for ``case``'s checks through ``call``; ``None`` without an embedding endpoint."""
        ...

    def sampled(self, case: Case) -> Sampling | None:
        """The rounds of ``case`` when it stops early, each judged as it arrived."""
        ...


class Evaluation:
    """Gathers and judges cases for one pipeline; the judges' ``Caller``."""

    def __init__(self, pipeline: Host) -> None:
        self.pipeline = pipeline
        self.unstructured: set[str] = set()
        """Endpoints that rejected ``response_format`` this run: judge calls go to them without it."""
        self._ahead: dict[str, _SentAhead] = {}
        self._sender: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    # -- judges run ahead ----------------------------------------------------------------------------------

    def watch(self, case: Case, futures: Sequence[concurrent.futures.Future[Outcome]]) -> None:
        """Send ``case``'s judge calls as soon as all its outputs arrive (``judge.ahead``), not at verdict time.

        Only checks whose judge request follows from the output (``checks.judge_request``) go ahead; the
        verdict then finds their outcome waiting (or being generated) instead of sending and waiting in turn.
        The calls take the pipeline's own path (``Host.send``: budget, cache, dispatch, ledger).
        """
        spec = self.pipeline.settings.config.judge
        if not spec.ahead or not futures or not any(judge_request(a, "") is not None for a in case.assertions):
            return
        entry = _SentAhead()
        with self._lock:
            self._ahead[case_key(case)] = entry

        def arrived() -> None:
            # runs on the dispatch loop's thread: admission may need the loop, so hand over to the sender thread
            with self._lock:
                if self._sender is None:
                    self._sender = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="helm-eval-judges")
                sender = self._sender
            try:
                sender.submit(self._send_ahead, case, list(futures), entry)
            except RuntimeError:  # closing: nothing more is sent
                entry.ready.set()

        when_all_done(futures, arrived)

    def _send_ahead(self, case: Case, futures: list[concurrent.futures.Future[Outcome]], entry: _SentAhead) -> None:
        try:
            if any(f.cancelled() for f in futures):
                return
            judge = CaseJudge(self, case, self.pipeline.settings.config.judge)
            for outcome in (f.result() for f in futures):
                if outcome.error is not None:
                    continue
                for assertion in case.assertions:
                    request = judge_request(assertion, outcome.text)
                    if request is None:
                        continue
                    call = judge.build_call(*request)
                    if call.endpoint in self.unstructured:
                        call = without_response_format(call)
                    key = _identity(call)
                    if key not in entry.sent:
                        entry.sent[key] = self.pipeline.send(call, case)
        except Exception:
            pass
        finally:
            entry.ready.set()

    def _sent_ahead(self, call: Call, case: Case) -> Outcome | None:
        """The outcome of ``call`` if it was sent ahead (waiting for it); ``BudgetCut`` if the budget refused it."""
        with self._lock:
            entry = self._ahead.get(case_key(case))
        if entry is None:
            return None
        entry.ready.wait()
        sent = entry.sent.pop(_identity(call), None)
        if sent is None:
            return None
        if isinstance(sent, Denial):
            raise BudgetCut(sent)
        try:
            return sent.result()
        except concurrent.futures.CancelledError:
            return None

    def close(self) -> None:
        """Stop sending judge calls ahead; release any verdict waiting for them."""
        with self._lock:
            sender, self._sender = self._sender, None
            entries = list(self._ahead.values())
        if sender is not None:
            sender.shutdown(wait=False, cancel_futures=True)
        for entry in entries:
            entry.ready.set()

    def judge_target(self, judge: JudgeModel) -> tuple[str, str, str]:
        """The judge's endpoint name, base URL and model; ``CheckError`` when it cannot be resolved."""
        pipeline = self.pipeline
        name = judge.endpoint or pipeline.planner.default
        endpoint = pipeline.endpoints.get(name)
        if endpoint is None:
            known = ", ".join(sorted(pipeline.endpoints))
            raise CheckError(f"judge endpoint {name!r} is not configured (configured: {known})")
        model = judge.model or endpoint.model
        if model is None:
            raise CheckError(f"no model for judge endpoint {name!r}: set the judge's model or the endpoint's model")
        return name, endpoint.base_url, model

    def cost_of(self, outcomes: Sequence[Outcome]) -> float | None:
        """Token-priced cost of ``outcomes`` (a ``cost`` check's figure); ``None`` when no price is known."""
        return self.pipeline.recorder.case_cost(outcomes)

    def embedder(self, case: Case, outcomes: list[Outcome]) -> EmbedFn | None:
        """Embeds texts for ``case``'s checks through the pipeline; ``None`` without an embedding endpoint."""
        return self.pipeline.embedder(case, outcomes)

    def call(self, call: Call, case: Case) -> Outcome:
        """One judge call through the pipeline's call path; raises ``BudgetCut`` when the budget refuses it.

        A call asking for structured output (``response_format``) that its endpoint rejects with HTTP 400 is
        sent again without it, and the endpoint's later judge calls go without it from the start.
        """
        if call.endpoint in self.unstructured:
            call = without_response_format(call)
        outcome = self._sent_ahead(call, case)
        if outcome is None:
            outcome = self.pipeline.call(call, case)
        if outcome.error is not None and outcome.error.startswith("HTTP 400") and "response_format" in call.params:
            self.unstructured.add(call.endpoint)
            outcome = self.pipeline.call(without_response_format(call), case)
        return outcome

    def gather(self, case: Case, nodeid: str | None = None) -> Gathered:
        """Wait for ``case``'s outcomes and sum them into a result; a call that failed for good sets ``error``.

        Raises what ``Pipeline.outcomes`` raises (input guardrails, budget, a dead endpoint).
        """
        pipeline = self.pipeline
        started = time.perf_counter()
        outcomes = pipeline.outcomes(case)
        turns = all_turns(outcomes)
        result = CaseResult.from_outcomes(
            nodeid or case_key(case),
            case.file,
            case.line,
            turns,
            threshold=case.threshold,
            duration_s=time.perf_counter() - started,
        )
        result.suite = case.suite_file
        calls = pipeline.calls_of(case)
        result.cost_usd = pipeline.recorder.case_cost(turns)
        estimates = [c.estimated_prompt_tokens for c in calls if c.estimated_prompt_tokens is not None]
        result.estimated_prompt_tokens = sum(estimates) if estimates else None
        result.owner = calls[0].owner if calls else pipeline.owner(case)
        result.tags = list(case.tags)
        failed = [o for o in turns if o.error]
        if not failed:
            return Gathered(outcomes, result)
        if pipeline.skip_unavailable and all(o.unavailable for o in failed):
            raise Unavailable(pipeline.redactor.scrub(f"on_unavailable: skip: {failed[0].error}"))
        result.status = "error"
        result.error = pipeline.redactor.scrub_optional(failed[0].error)
        endpoint = pipeline.endpoints.get(failed[0].endpoint)
        url = endpoint.base_url if endpoint is not None else "?"
        explanation = (
            f"{case.file}:{case.line}: {case.id}: {len(failed)} of {len(turns)} calls "
            f"to endpoint {failed[0].endpoint!r} ({url}) failed: {failed[0].error}"
        )
        return Gathered(outcomes, result, pipeline.redactor.scrub(explanation))

    def judge(self, case: Case, gathered: Gathered) -> CaseVerdict:
        """Apply ``case``'s assertions to its outcomes and fill in the result (status, verdicts, judge cost)."""
        pipeline = self.pipeline
        sampling = pipeline.sampled(case)
        judged = sampling.verdict() if sampling is not None else None  # judged round by round as they came in
        try:
            if judged is None:
                judged = judge_case(self, case, gathered.outcomes, pipeline.settings.config.judge)
            verdict = judged
        finally:
            with self._lock:
                self._ahead.pop(case_key(case), None)
        pipeline.redactor.learn(case, all_turns(gathered.outcomes))
        scrub = pipeline.redactor.scrub
        result = gathered.result
        tally = verdict.judge.tally
        result.judge_first_decided, result.judge_escalated = tally.first_decided, tally.escalated
        result.judge_tokens_saved = tally.tokens_saved
        if verdict.judge.outcomes:
            result.judge_tokens = verdict.judge.tokens
            judge_cost = pipeline.recorder.case_cost(verdict.judge.outcomes)
            if judge_cost is not None:
                result.cost_usd = (result.cost_usd or 0.0) + judge_cost
        result.passes = verdict.passes
        result.repeats = verdict.repeats
        result.score = verdict.score
        result.named_scores = named_scores(case.assertions, verdict.runs)
        result.pass_rate_ci = rate_interval(result.passes, result.repeats, case.confidence)
        result.confidence = case.confidence
        if case.stop_early:
            result.max_repeats = case.repeat
            result.repeat_tokens_saved = tokens_saved(result, case.repeat)
        outcomes = gathered.outcomes
        result.output = excerpt(scrub(outcomes[verdict.shown].text), OUTPUT_EXCERPT) if outcomes else ""
        if outcomes:
            result.tool_calls = shown_tool_calls(outcomes[verdict.shown], scrub)
            result.transcript = transcript(case, outcomes[verdict.shown], scrub)
        result.messages = [{"role": str(m.get("role", "")), "content": excerpt(scrub(str(m.get("content", ""))),
                            OUTPUT_EXCERPT)} for m in case.messages[-PROMPT_MESSAGES:]]  # fmt: skip
        shown = verdict.runs[verdict.shown] if verdict.runs else []
        result.verdicts = [v if (r := scrub(v.reason)) == v.reason else dataclasses.replace(v, reason=r) for v in shown]
        undecided = verdict.inconclusive(case)
        decision = verdict.decision(case)
        if verdict.cut is not None:
            result.status, result.skip_reason = "skipped", str(verdict.cut)
        elif undecided is not None:
            result.status = "error"
            reason = undecided.reason.removeprefix("inconclusive: ")
            result.error = scrub(f"judge gave no valid verdict: {undecided.assertion}: {reason}")
        elif decision is None:
            result.status, result.error = "error", inconclusive_rate(case, result)
        else:
            result.status = "passed" if decision else "failed"
        return verdict

    def evaluate(self, cases: Sequence[Case]) -> Iterator[CaseResult]:
        """Send every case ahead, then yield each one's result in order (what a script wants)."""
        pipeline = self.pipeline
        pipeline.submit(cases)
        for case in cases:
            key = case_key(case)
            try:
                gathered = self.gather(case)
            except (BudgetCut, Unavailable) as cut:
                yield CaseResult(key, case.file, case.line, "skipped", suite=case.suite_file, skip_reason=str(cut))
                continue
            except HelmEvalError as exc:
                error = pipeline.redactor.scrub(str(exc))
                yield CaseResult(key, case.file, case.line, "error", suite=case.suite_file, error=error)
                continue
            if gathered.error is None:
                self.judge(case, gathered)
            yield gathered.result
