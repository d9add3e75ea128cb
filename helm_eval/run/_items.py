"""pytest nodes for suite files: one ``SuiteFile`` per YAML file, one ``CaseItem`` per test × prompt.

The items only adapt: waiting, judging and results belong to the pipeline; an item turns them into pytest's
outcomes (an error in set-up, a failure in the call, a skip for a budget cut).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _pytest.outcomes import Failed  # what pytest.fail raises; the public name is not usable as a base class

from helm_eval._gc import gc_paused
from helm_eval._records import Case, CaseResult
from helm_eval.collect import load_suite
from helm_eval.config import BudgetCut, HelmEvalError, Unavailable
from helm_eval.pipeline import CaseVerdict, Gathered
from helm_eval.run._keys import MARKERS_KEY, RESULT_KEY, SESSION_KEY


class CaseFailed(Exception):
    """The case's pass rate fell below its threshold; the message is the whole explanation."""


class CaseCallError(Failed):
    """A call of the case failed for good (after retries); the case is an error, not a failure.

    Raised in set-up, where pytest formats a traceback for any other exception (parsing the source of every frame:
    about a second per case on a busy runner, so a dead endpoint under a large suite took minutes to report). As
    an outcome without ``pytrace`` it is reported as its message alone, still as an error.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message, pytrace=False)


class CaseInconclusive(CaseCallError):
    """The judge gave no valid verdict where it decides the case: an error, not a failure of the model."""


class SuiteFile(pytest.File):
    """A YAML suite; a malformed one fails its own collection with file:line and no traceback."""

    def collect(self) -> list[CaseItem]:
        """Load the suite, make one item per case, and send their calls ahead when the whole run is known."""
        session = self.config.stash[SESSION_KEY]
        with gc_paused(freeze=True):  # cases, calls and items: many objects, all alive for the whole run
            try:
                matrix = session.settings.matrix()
                cases = load_suite(
                    self.path, session.settings.display_path(self.path), session.settings.config.options, matrix
                )
                session.pipeline.notices.extend(n for n in matrix.notes if n not in session.pipeline.notices)
                for case in cases:
                    session.pipeline.check_case(case)
            except HelmEvalError as exc:
                raise self.CollectError(str(exc)) from None
            session.send_early(cases, self.session)
            return [CaseItem.from_parent(self, name=case.id, case=case) for case in cases]


class CaseItem(pytest.Item):
    """One evaluation case; its calls are dispatched ahead and it waits only for its own outcomes."""

    def __init__(self, *, case: Case, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.case = case
        self.gathered: Gathered | None = None
        self.verdict: CaseVerdict | None = None
        for tag in case.tags:
            _register_marker(self.config, tag)
            self.add_marker(tag)

    def reportinfo(self) -> tuple[Path, int, str]:
        """Location shown by pytest: the suite file and the test's line (0-based here, as pytest expects).

        The third part heads the failure report. It must not be a suffix of the node id: pytest's ``-v``
        display would then rewrite its dots as ``::`` (``suites/x::yaml::hello``).
        """
        path = self.path if self.case.file == self.case.suite_file else self.config.rootpath / self.case.file
        return path, self.case.line - 1, f"{self.case.file}:{self.case.line}: {self.case.id}"

    def setup(self) -> None:
        """Wait for this case's outcomes and judge them.

        A call that failed for good, or a judge that gave no valid verdict where it decides the case, makes the
        case an error (pytest reports errors from set-up only); a budget cut of a judge call skips it.
        """
        pipeline = self.config.stash[SESSION_KEY].pipeline
        case = self.case
        try:
            self.gathered = pipeline.gather(case, self.nodeid)
        except (BudgetCut, Unavailable) as cut:
            self.stash[RESULT_KEY] = CaseResult(
                self.nodeid, case.file, case.line, "skipped", suite=case.suite_file, skip_reason=str(cut)
            )
            # reported at the suite line, not at this line of helm-eval
            raise pytest.skip.Exception(str(cut), _use_item_location=True) from None
        except HelmEvalError as exc:  # input guardrails, or the endpoint check
            error = pipeline.redactor.scrub(str(exc))
            self.stash[RESULT_KEY] = CaseResult(
                self.nodeid, case.file, case.line, "error", suite=case.suite_file, error=error
            )
            raise CaseCallError(f"{case.file}:{case.line}: {case.id}: helm-eval: {error}") from None
        result = self.gathered.result
        self.stash[RESULT_KEY] = result
        record_usage_properties(self, result)
        if self.gathered.error is not None:
            raise CaseCallError(self.gathered.error)
        self.verdict = pipeline.judge(case, self.gathered)
        record_repeat_properties(self, result)
        if self.verdict.cut is not None:
            raise pytest.skip.Exception(str(self.verdict.cut), _use_item_location=True)
        if result.status == "error":
            raise CaseInconclusive(f"{case.file}:{case.line}: {case.id}: {result.error}")

    def runtest(self) -> None:
        """Pass when the pass rate of the judged runs reaches the case's threshold."""
        assert self.gathered is not None
        assert self.verdict is not None
        if self.gathered.result.status == "failed":
            pipeline = self.config.stash[SESSION_KEY].pipeline
            raise CaseFailed(pipeline.explain(self.case, self.gathered, self.verdict))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str | Any:
        """Our own failures explain themselves; anything else gets pytest's usual report."""
        if isinstance(excinfo.value, CaseFailed | CaseCallError):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)


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
            *([("failed_over_from", result.failed_over_from)] if result.failed_over_from else []),
        ]
    )


def record_repeat_properties(item: pytest.Item, result: CaseResult) -> None:
    """A case that could stop early: the runs it made of its most, and the tokens that saved (JUnit properties)."""
    if not result.max_repeats:
        return
    made = (
        f"stopped after {result.repeats} of {result.max_repeats} runs"
        if result.stopped_early
        else (f"all {result.repeats} runs made")
    )
    item.user_properties.extend(
        [("runs", result.repeats), ("max_runs", result.max_repeats), ("early_stop", made),
         ("runs_tokens_saved", result.repeat_tokens_saved)]
    )  # fmt: skip


def _register_marker(config: pytest.Config, tag: str) -> None:
    known = config.stash.setdefault(MARKERS_KEY, set())
    if tag not in known:
        known.add(tag)
        config.addinivalue_line("markers", f"{tag}: helm-eval suite tag")
