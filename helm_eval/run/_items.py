"""pytest nodes for suite files: one ``SuiteFile`` per YAML file, one ``CaseItem`` per test × prompt."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from helm_eval._records import Call, Case, CaseResult, Outcome, Verdict
from helm_eval._stats import wilson_interval
from helm_eval._text import excerpt, quote
from helm_eval.collect import load_suite
from helm_eval.config import HelmEvalError
from helm_eval.run._judging import CaseJudge, judged_verdict

if TYPE_CHECKING:
    from helm_eval.run._session import HelmEvalRun

OUTPUT_EXCERPT = 500

RUN_KEY = pytest.StashKey["HelmEvalRun"]()
RESULT_KEY = pytest.StashKey[CaseResult]()
MARKERS_KEY = pytest.StashKey[set[str]]()


class CaseFailed(Exception):
    """The case's pass rate fell below its threshold; the message is the whole explanation."""


class BudgetCut(Exception):
    """The budget did not admit the case; it is skipped with the reason, never failed."""

    def __init__(self, denial: object) -> None:
        super().__init__(f"budget: {denial}")
        self.denial = denial


class CaseCallError(Exception):
    """A call of the case failed for good (after retries); the case is an error, not a failure."""


class SuiteFile(pytest.File):
    """A YAML suite; a malformed one fails its own collection with file:line and no traceback."""

    def collect(self) -> Iterator[CaseItem]:
        """Load the suite and yield one item per case."""
        run = _run(self.config)
        try:
            cases = load_suite(self.path, run.display_path(self.path), run.settings.config.options)
            for case in cases:
                run.check_case_endpoint(case)
        except HelmEvalError as exc:
            raise self.CollectError(str(exc)) from None
        for case in cases:
            yield CaseItem.from_parent(self, name=case.id, case=case)


class CaseItem(pytest.Item):
    """One evaluation case; its calls are dispatched ahead and it waits only for its own outcomes."""

    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.outcomes: list[Outcome] = []
        self.calls: list[Call] = []
        for tag in case.tags:
            _register_marker(self.config, tag)
            self.add_marker(tag)

    def reportinfo(self) -> tuple[Path, int, str]:
        """Location shown by pytest: the suite file and the test's line (0-based here, as pytest expects).

        The third part heads the failure report. It must not be a suffix of the node id: pytest's ``-v``
        display would then rewrite its dots as ``::`` (``suites/x::yaml::hello``).
        """
        return self.path, self.case.line - 1, f"{self.case.file}:{self.case.line}: {self.case.id}"

    def setup(self) -> None:
        """Wait for this case's outcomes; a call that failed for good makes the case an error."""
        run = _run(self.config)
        started = time.perf_counter()
        try:
            self.outcomes = run.outcomes_for(self)
        except BudgetCut as cut:
            self.stash[RESULT_KEY] = CaseResult(
                self.nodeid, self.case.file, self.case.line, "skipped", suite=self.case.file, skip_reason=str(cut)
            )
            # reported at the suite line, not at this line of helm-eval
            raise pytest.skip.Exception(str(cut), _use_item_location=True) from None
        except HelmEvalError as exc:  # input guardrails, or the endpoint check
            self.stash[RESULT_KEY] = CaseResult(
                self.nodeid, self.case.file, self.case.line, "error", suite=self.case.file, error=str(exc)
            )
            raise CaseCallError(f"{self.case.file}:{self.case.line}: {self.case.id}: helm-eval: {exc}") from None
        result = self._result(started)
        accounting = run.accounting
        result.cost_usd = accounting.case_cost(self.outcomes)
        estimates = [c.estimated_prompt_tokens for c in self.calls if c.estimated_prompt_tokens is not None]
        result.estimated_prompt_tokens = sum(estimates) if estimates else None
        result.owner = self.calls[0].owner if self.calls else accounting.owner(self.case)
        result.tags = list(self.case.tags)
        failed = [o for o in self.outcomes if o.error]
        self.stash[RESULT_KEY] = result
        self._record_properties(result)
        if failed:
            result.status = "error"
            result.error = failed[0].error
            endpoint = run.endpoint_url(failed[0].endpoint)
            raise CaseCallError(
                f"{self.case.file}:{self.case.line}: {self.case.id}: {len(failed)} of {len(self.outcomes)} calls "
                f"to endpoint {failed[0].endpoint!r} ({endpoint}) failed: {failed[0].error}"
            )

    def runtest(self) -> None:
        """Apply the assertions to every run; pass when the pass rate reaches the case's threshold."""
        result = self.stash[RESULT_KEY]
        run = _run(self.config)
        judge = CaseJudge(run, self.case, run.settings.config.judge)
        runs = [[judged_verdict(a, o, self.case, judge) for a in self.case.assertions] for o in self.outcomes]
        if judge.outcomes:
            result.judge_tokens = judge.tokens
            judge_cost = run.accounting.case_cost(judge.outcomes)
            if judge_cost is not None:
                result.cost_usd = (result.cost_usd or 0.0) + judge_cost
        if judge.cut is not None:
            result.skip_reason = str(judge.cut)
            raise pytest.skip.Exception(str(judge.cut), _use_item_location=True)
        passes = [all(v.passed for v in verdicts) for verdicts in runs]
        result.passes = sum(passes)
        result.repeats = len(runs)
        result.pass_rate_ci = wilson_interval(result.passes, result.repeats)
        shown = passes.index(False) if False in passes else 0
        result.output = excerpt(self.outcomes[shown].text, OUTPUT_EXCERPT) if self.outcomes else ""
        result.verdicts = [_verdict_json(v) for v in runs[shown]] if runs else []
        rate = result.passes / result.repeats if result.repeats else 0.0
        if rate + 1e-12 < self.case.threshold:
            raise CaseFailed(self._explain(runs, passes, shown))

    def _explain(self, runs: list[list[Verdict]], passes: list[bool], shown: int) -> str:
        case = self.case
        n, k = len(passes), sum(passes)
        head = f"{case.file}:{case.line}: {case.id}"
        if n == 1:
            lines = [f"{head}: failed"]
        else:
            low, high = wilson_interval(k, n)
            lines = [
                f"{head}: {k} of {n} runs passed ({k / n:.0%}, 95% CI {low:.0%}–{high:.0%}); "
                f"needs {case.threshold:.0%}; showing run {shown + 1}"
            ]
        lines.append(f"  output: {quote(self.outcomes[shown].text, 300)}")
        for verdict in runs[shown]:
            mark = {"pass": "pass", "fail": "FAIL", "error": "ERROR"}[verdict.status]
            lines.append(f"  {mark} {verdict.assertion}: {verdict.reason}")
        if n > 1:
            for index, verdicts in enumerate(runs):
                failed = [v.assertion for v in verdicts if not v.passed]
                if failed and index != shown:
                    lines.append(f"  run {index + 1}: FAIL {', '.join(failed)}")
        return "\n".join(lines)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        """Our own failures explain themselves; anything else gets pytest's usual report."""
        if isinstance(excinfo.value, CaseFailed | CaseCallError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def _result(self, started: float) -> CaseResult:
        return CaseResult.from_outcomes(
            self.nodeid,
            self.case.file,
            self.case.line,
            self.outcomes,
            threshold=self.case.threshold,
            duration_s=time.perf_counter() - started,
        )

    def _record_properties(self, result: CaseResult) -> None:
        record_usage_properties(self, result)


def record_usage_properties(item: pytest.Item, result: CaseResult) -> None:
    """Per-case usage as JUnit ``<properties>`` (pytest writes ``item.user_properties``)."""
    latency = sum(result.latency_ms) / len(result.latency_ms) if result.latency_ms else 0.0
    item.user_properties.extend(
        [
            ("prompt_tokens", result.prompt_tokens),
            ("completion_tokens", result.completion_tokens),
            ("total_tokens", result.total_tokens),
            ("latency_ms", round(latency, 1)),
            ("model", result.model),
            ("endpoint", result.endpoint),
        ]
    )


def _verdict_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "assertion": verdict.assertion,
        "status": verdict.status,
        "reason": verdict.reason,
        "score": verdict.score,
        "threshold": verdict.threshold,
    }


def _register_marker(config: pytest.Config, tag: str) -> None:
    known = config.stash.setdefault(MARKERS_KEY, set())
    if tag not in known:
        known.add(tag)
        config.addinivalue_line("markers", f"{tag}: helm-eval suite tag")


def _run(config: pytest.Config) -> HelmEvalRun:
    return config.stash[RUN_KEY]
