"""The session's hook object: adapts pytest's hooks to the pipeline, and nothing more.

Registered with the plugin manager only when ``--helm-eval`` is given. Collection feeds cases to the pipeline
(as each suite file is collected when the whole selection is known up front, else when collection ends); each
item waits for its own outcomes; reports collect the results; the session's end writes the run record.
"""

from __future__ import annotations

import gc
import signal
import sys
import threading
import time
from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any

import pytest

from helm_eval._fs import ensure_writable
from helm_eval._records import Case, CaseResult, Outcome, RunRecord
from helm_eval._text import excerpt
from helm_eval.config import HelmEvalError
from helm_eval.ledger import CaseHistory, case_history
from helm_eval.pipeline import OUTPUT_EXCERPT, Pipeline, RunSettings, case_key
from helm_eval.plan import Overrides
from helm_eval.report import (
    Comparison,
    HistoryOf,
    add_locations,
    attach_baseline,
    baseline_lines,
    baseline_of,
    budget_lines,
    failover_lines,
    history_lines,
    judge,
    mark_history,
    quarantine_lines,
    write_html,
    write_run_record,
    write_summary,
)
from helm_eval.run._gate import session_gate
from helm_eval.run._items import CaseCallError, CaseItem, record_usage_properties
from helm_eval.run._keys import PYTHON_CALLS_KEY, RESULT_KEY
from helm_eval.run._progress import ProgressLine, wanted


class HelmEvalSession:
    """One pytest session of helm-eval: the pipeline, the vLLM server it started, and the run record."""

    def __init__(self, config: pytest.Config, settings: RunSettings) -> None:
        self.config = config
        self.settings = settings
        self.record = RunRecord(started_at=time.time())
        self.is_worker = hasattr(config, "workerinput")
        shared: dict[str, Any] = getattr(config, "workerinput", {})
        self._server: Any = None
        if shared.get("helm_eval_endpoint"):  # the controller started vLLM (--helm-eval-serve); workers use it
            self._point_at(shared["helm_eval_endpoint"], shared.get("helm_eval_model"))
        if shared.get("helm_eval_ledger"):  # one ledger for all workers (also with ledger off): one budget
            settings.budget.ledger = shared["helm_eval_ledger"]
        serve = config.getoption("helm_eval_serve")
        if serve and not self.is_worker:
            self._start_server(serve)
        if settings.report_path is not None and not self.is_worker:
            ensure_writable(
                settings.report_path, "the run record", "pass --helm-eval-report PATH (or report:) elsewhere"
            )
        if settings.html_path is not None and not self.is_worker:
            ensure_writable(settings.html_path, "the HTML report", "pass --helm-eval-html PATH (or html:) elsewhere")
        self.gate = session_gate(config, settings)
        self._comparison: Comparison | None = None
        self._comparison_label = "base"
        self._verdict = ""
        self.pipeline = Pipeline(settings, run_id=shared.get("helm_eval_run_id"), reclaim=not self.is_worker)
        self._early: list[Case] = []
        self._previous_sigterm = _stop_on_sigterm() if not self.is_worker else None
        self._send_early = not self.is_worker and _selection_known_while_collecting(config, self.pipeline)
        if settings.suite_paths and not config.option.collectonly:
            # the HTTP worker loads on another core, and the endpoints answer, while suites are collected
            self.pipeline.warm_up(probe=self._server is None)  # a server being started is asked once it is up
        self._stdout = sys.stdout  # what pytest's terminal writer writes to (capturing is off while configuring)
        self.progress: ProgressLine | None = None
        # results decided by this process's reports, kept as objects until logged (workers send theirs as JSON)
        self._decided: dict[tuple[str, str], CaseResult] = {}
        gc.freeze()  # the modules, models and pipeline just built live as long as the process (see below)

    # -- the vLLM server of --helm-eval-serve --------------------------------------------------------------

    def _point_at(self, url: str, model: str | None) -> None:
        overrides = self.settings.overrides
        self.settings.overrides = Overrides(url, model, overrides.concurrency, overrides.timeout)

    def _start_server(self, model: str) -> None:
        """Start vLLM now (it loads while pytest collects); the default endpoint points at it."""
        from helm_eval.serve import ModelPrepError, ServerStartError, VLLMServer, resolve_model, serve_args

        try:
            path, name = resolve_model(model)
            self._server = VLLMServer(path, served_model_name=name, extra_args=serve_args(model))
            self._server.start()
        except (ServerStartError, ModelPrepError, ValueError, OSError) as exc:
            raise HelmEvalError(f"--helm-eval-serve {model}: {exc}") from None
        self._point_at(self._server.base_url, name)

    def _stop_server(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Wait until a served vLLM answers; the xdist controller checks the endpoints before workers start."""
        try:
            if self._server is not None:
                from helm_eval.serve import ServerStartError

                try:
                    self._server.wait_ready()
                except ServerStartError as exc:
                    self._stop_server()
                    raise HelmEvalError(f"vLLM did not start: {exc}") from None
            if self._is_xdist_controller() and self.settings.suite_paths:
                self.pipeline.dispatcher()
        except HelmEvalError as exc:
            raise pytest.UsageError(f"helm-eval: {exc}") from None

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: every worker shares this run's id (one budget, one ledger run) and served endpoint."""
        node.workerinput["helm_eval_run_id"] = self.pipeline.run_id
        node.workerinput["helm_eval_ledger"] = self.pipeline.ledger.url
        if self._server is not None:
            node.workerinput["helm_eval_endpoint"] = self._server.base_url
            node.workerinput["helm_eval_model"] = self.settings.overrides.model

    def _is_xdist_controller(self) -> bool:
        return not self.is_worker and self.config.pluginmanager.has_plugin("dsession")

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """pytest-xdist: what a worker noticed while collecting (a YAML file that is not a suite) is said here."""
        output = getattr(node, "workeroutput", None) or {}
        for notice in output.get("helm_eval_notices", []):
            if isinstance(notice, str) and notice not in self.pipeline.notices:
                self.pipeline.notices.append(notice)

    # -- collect: send ahead ---------------------------------------------------------------------------------

    def send_early(self, cases: Sequence[Case], session: pytest.Session) -> None:
        """Send a suite's calls as soon as it is collected, when nothing can deselect them afterwards.

        Not once a collection error has happened: pytest will stop after collecting, and such a run must not
        spend anything.
        """
        if session.testsfailed and not session.config.option.continue_on_collection_errors:
            self._send_early = False
        shard = self.settings.shard
        if shard is not None:
            cases = [case for case in cases if shard.holds(case_key(case))]
        if not self._send_early or not cases:
            return
        try:
            self.pipeline.submit(cases)
        except HelmEvalError:
            self._send_early = False  # the same error is raised, once, when collection ends
            return
        self._early.extend(cases)

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """``--helm-eval-shard I/N``: deselect every item of the other shards (suite cases and Python tests).

        pytest-xdist workers each collect and deselect alike (the split depends on node ids only).
        """
        shard = self.settings.shard
        if shard is None:
            return
        keep: list[pytest.Item] = []
        other: list[pytest.Item] = []
        for item in items:
            (keep if shard.holds(item.nodeid) else other).append(item)
        if other:
            config.hook.pytest_deselected(items=other)
            items[:] = keep

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Send every selected case not sent yet, in collection order; cancel what was deselected after all.

        xdist workers collect every item but run only those the controller hands them, so there each item
        submits its own calls when it starts.
        """
        # What collection built (items, cases, suite data, imported modules) lives until the session ends; moved
        # out of the collector's reach, it is not traversed again by every full collection the run's allocations
        # trigger, nor by pytest's own at exit (measured: a third to a half of the run's GC time at 2,000 cases).
        gc.freeze()
        items = [item for item in session.items if isinstance(item, CaseItem)]
        if self._early:
            selected = {id(item.case) for item in items}
            self.pipeline.forget(case for case in self._early if id(case) not in selected)
            self._early = []
        uses_model = [item for item in session.items if "helm_model" in getattr(item, "fixturenames", ())]
        if not (items or uses_model) or not _will_run(session):
            self.pipeline.cancel_pending()
            return
        if not self.is_worker and wanted(self._stdout, self.config.get_verbosity()):
            budget, terminal = self.pipeline.budget, self.config.get_terminal_writer()
            self.progress = ProgressLine(self._stdout, lambda: budget.summary() if budget is not None else None,
                                         width=lambda: terminal.fullwidth)  # fmt: skip
            self.progress.total = len(items) + len(uses_model)
        try:
            self.pipeline.dispatcher()
            if not self.is_worker:
                self.pipeline.submit([item.case for item in items])
        except HelmEvalError as exc:
            if self.is_worker:
                return  # pytest.exit in a worker crashes the xdist controller; each item reports the error
            pytest.exit(f"helm-eval: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)

    # -- record ------------------------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        """Attach the case's result to the report that decides its status (it travels to the xdist controller)."""
        calls = item.stash.get(PYTHON_CALLS_KEY, None)
        if calls and call.when == "call" and RESULT_KEY not in item.stash:
            entry = python_result(item, calls)
            entry.output = self.pipeline.redactor.scrub(entry.output)
            entry.cost_usd = self.pipeline.recorder.case_cost(calls)
            item.stash[RESULT_KEY] = entry
            record_usage_properties(item, entry)
        report = yield
        if report.when == "setup" and call.excinfo is not None and isinstance(call.excinfo.value, CaseCallError):
            # pytest renders set-up errors without repr_failure; ours explain themselves, without a traceback
            report.longrepr = str(call.excinfo.value)
        decides = report.when == "call" or (report.when == "setup" and not report.passed)
        result: CaseResult | None = item.stash.get(RESULT_KEY, None)
        if decides and (result is not None or isinstance(item, CaseItem)):
            if result is None:
                assert isinstance(item, CaseItem)
                result = CaseResult(item.nodeid, item.case.file, item.case.line, "skipped", suite=item.case.suite_file)
            if report.when == "setup":
                result.status = "skipped" if report.skipped else "error"
                if report.skipped:
                    result.skip_reason = result.skip_reason or _skip_reason(report)
            else:
                result.status = "passed" if report.passed else ("skipped" if report.skipped else "failed")
                if report.skipped and result.skip_reason is None:
                    result.skip_reason = _skip_reason(report)
            if self.is_worker:
                report.helm_eval = result.to_json()  # travels to the controller with the report
            else:
                self._decided[(report.nodeid, report.when)] = result
        return report

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> Generator[None, None, None]:
        """Collect results from reports (here or from xdist workers); redraw the progress line after pytest's."""
        if self.progress is not None:
            self.progress.erase()
        yield
        result = self._decided.pop((report.nodeid, report.when), None)
        data = getattr(report, "helm_eval", None)
        if result is None and isinstance(data, dict):
            result = CaseResult.from_json(data)
        if result is not None:
            self.record.cases.append(result)
            if self.progress is not None:
                self.progress.finished(result.total_tokens + result.judge_tokens)
        if self.progress is not None and report.when == "teardown":
            self.progress.draw(self.config.get_terminal_writer().width_of_current_line)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_logstart(self) -> Generator[None, None, None]:
        """Pytest may start a new line for the next file: the progress line goes first."""
        if self.progress is not None:
            self.progress.erase()
        yield

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self) -> Generator[None, object, object]:
        """No progress line once the cases are done (the summary follows)."""
        try:
            return (yield)
        finally:
            if self.progress is not None:
                self.progress.erase()
                self.progress = None

    # -- report ----------------------------------------------------------------------------------------

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Cases, outcomes, tokens and latency per suite."""
        if self.is_worker:
            return
        if not self.record.cases:
            if self.pipeline.notices:  # e.g. why a YAML file named on the command line is not a suite
                terminalreporter.write_sep("=", "helm-eval")
                for notice in self.pipeline.notices:
                    terminalreporter.write_line(f"helm-eval: {notice}")
            return
        self.record.finished_at = time.time()
        terminalreporter.write_sep("=", "helm-eval")
        write_summary(self.record, terminalreporter.write_line)
        lines = [*budget_lines(self.record), *failover_lines(self.record), *baseline_lines(self.record)]
        if self.record.baseline is None and self._verdict:
            lines.append(f"gate: {self._verdict}")
        for line in [*lines, *quarantine_lines(self.record, self.gate.gate), *history_lines(self.record)]:
            terminalreporter.write_line(line)
        for notice in [*self.pipeline.notices, *self.pipeline.dead_endpoints()]:
            terminalreporter.write_line(f"helm-eval: {notice}")
        if self.settings.report_path is not None:
            terminalreporter.write_line(f"run record: {self.settings.report_path}")
        if self.settings.html_path is not None:
            terminalreporter.write_line(f"HTML report: {self.settings.html_path}")

    def pytest_keyboard_interrupt(self) -> None:
        """Ctrl-C: cancel every call still queued."""
        self.pipeline.cancel_pending()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Stop dispatching, then write the run record and add suite lines to the JUnit XML."""
        self._stop_server()
        warnings = self.pipeline.close() if self.is_worker else self.pipeline.finish(self.record)
        if self.settings.shard is not None:
            self.record.labels["shard"] = str(self.settings.shard)
        for warning in warnings:
            self.config.issue_config_time_warning(pytest.PytestWarning(f"helm-eval: {warning}"), stacklevel=2)
        if self.is_worker:
            self.config.workeroutput["helm_eval_notices"] = list(self.pipeline.notices)  # type: ignore[attr-defined]
            return
        budget = self.record.budget
        if budget is not None and budget.fails_check and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        self._judge(session)
        self.record.finished_at = time.time()
        # each writer on its own: one that fails warns and never costs the others their output
        if self.settings.report_path is not None:
            self._write("run record", lambda path: write_run_record(self.record, path), self.settings.report_path)
        if self.settings.html_path is not None:
            base = baseline_of(self._comparison, self._comparison_label) if self._comparison is not None else None
            self._write("HTML report", lambda path: write_html(self.record, path, baseline=base),
                        self.settings.html_path)  # fmt: skip
        xml_path = self.config.getoption("xmlpath", None)
        if xml_path:
            prefix = self.config.getoption("junitprefix", None)
            self._write("JUnit file/line attributes", lambda path: add_locations(path, self.record.cases, prefix),
                        Path(xml_path))  # fmt: skip

    def _judge(self, session: pytest.Session) -> None:
        """Compare with the baseline and apply the gate: only new failures, a pass-rate floor, a quarantine."""
        gate = self.gate
        history = self._history_of()
        if gate.baseline is not None:
            self._comparison = attach_baseline(self.record, gate.baseline, trusted=gate.trusted_baseline,
                                               alpha=gate.alpha, shown=gate.shown, history=history)  # fmt: skip
            self._comparison_label = gate.shown or gate.baseline
        elif history is not None:
            mark_history(self.record, history(self.record.labels.get("branch")))
        if not gate.configured or session.exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return
        ours = sum(1 for case in self.record.cases if case.status in ("failed", "error"))
        red, reason = judge(self.record, gate.gate, other_failures=max(0, session.testsfailed - ours))
        self._verdict = f"{'red' if red else 'green'}: {reason}"
        # a run stopped early (-x, --maxfail) did not judge every case: it may turn red, never green
        if red or not (session.shouldfail or session.shouldstop):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED if red else pytest.ExitCode.OK

    def _history_of(self) -> HistoryOf | None:
        """Each case's recent runs in this run's ledger (this run left out); ``None`` when turned off."""
        runs, ledger, run_id = self.gate.history_runs, self.pipeline.ledger, self.pipeline.run_id
        if runs < 1:
            return None

        def of(branch: str | None) -> dict[str, CaseHistory]:
            try:
                nodeids = [case.nodeid for case in self.record.cases]
                return dict(case_history(ledger, branch, runs=runs, exclude_run=run_id, nodeids=nodeids))
            except Exception:  # ledger I/O never aborts a run: no history is only less information
                return {}

        return of

    def _write(self, what: str, write: Callable[[Path], object], path: Path) -> None:
        try:
            write(path)
        except (OSError, ValueError) as exc:
            message = f"helm-eval: could not write the {what} to {path}: {exc}"
            self.config.issue_config_time_warning(pytest.PytestWarning(message), stacklevel=2)

    def pytest_unconfigure(self) -> None:
        """Never leave a server behind, whatever ended the session."""
        self._stop_server()
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)


def python_result(item: pytest.Item, outcomes: list[Outcome]) -> CaseResult:
    """The run-record entry of a Python test that used the ``helm_model`` fixture."""
    path, line, _ = item.location
    return CaseResult.from_outcomes(
        item.nodeid,
        path,
        None if line is None else line + 1,
        outcomes,
        kind="python",
        repeats=len(outcomes),
        output=excerpt(outcomes[-1].text, OUTPUT_EXCERPT),
    )


def _stop_on_sigterm() -> Any:
    """Make SIGTERM (a cancelled CI job, ``docker stop``) end the run as Ctrl-C does.

    Queued calls are cancelled, the ledger is settled, the run record written, and pytest exits with its
    "interrupted" status. Returns the handler it replaced, or ``None`` off the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"helm-eval: stopped by signal {signum} (SIGTERM)")

    return signal.signal(signal.SIGTERM, interrupt)


def _selection_known_while_collecting(config: pytest.Config, pipeline: Pipeline) -> bool:
    """True when every collected case will run, so its calls can go out before collection ends.

    Not when an option deselects after collection (``-k``, ``-m``, ``--deselect``, ``--lf``, ``--sw``), when
    nothing will run (``--collect-only``), or when a budget must admit all cases together in priority order.
    """
    option = config.option
    deselecting = (
        getattr(option, "keyword", "")
        or getattr(option, "markexpr", "")
        or getattr(option, "deselect", None)
        or getattr(option, "lf", False)
        or getattr(option, "stepwise", False)
        or getattr(option, "collectonly", False)
    )
    return not deselecting and pipeline.budget is None


def _will_run(session: pytest.Session) -> bool:
    """False when pytest stops after collection (``--collect-only``, or collection errors): nothing to send."""
    option = session.config.option
    if option.collectonly:
        return False
    return not (session.testsfailed and not option.continue_on_collection_errors)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")  # how pytest-xdist serialises a skip
