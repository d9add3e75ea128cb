"""The session's hook object: adapts pytest's hooks to the pipeline, and nothing more.

Registered with the plugin manager only when ``--helm-eval`` is given. Each concern has its own module and the
hooks here hand over to it: the vLLM server (``_server.py``) and what xdist workers share (``_xdist.py``), feeding
collected cases to the pipeline (``_feed.py``), and the session's end (``_finish.py``). The per-item hooks stay
here, inline: they run for every item, and they only turn pytest's reports into run-record entries.
"""

from __future__ import annotations

import gc
import signal
import sys
import threading
import time
from collections.abc import Generator, Sequence
from typing import Any

import pytest

from helm_eval._fs import ensure_writable
from helm_eval._http import Transport
from helm_eval._records import Case, CaseResult, RunRecord
from helm_eval.config import HelmEvalError
from helm_eval.pipeline import Pipeline, RunSettings
from helm_eval.run import _xdist
from helm_eval.run._feed import CaseFeed, deselect_other_shards
from helm_eval.run._finish import SessionEnd
from helm_eval.run._fixtures import python_result
from helm_eval.run._gate import session_gate
from helm_eval.run._items import CaseCallError, CaseItem, record_usage_properties
from helm_eval.run._keys import PYTHON_CALLS_KEY, RESULT_KEY
from helm_eval.run._progress import ProgressLine, wanted
from helm_eval.run._server import ServedModel


class HelmEvalSession:
    """One pytest session of helm-eval: the pipeline, the vLLM server it started, and the run record."""

    def __init__(self, config: pytest.Config, settings: RunSettings, transport: Transport | None = None) -> None:
        """``transport``: the HTTP worker the plugin started as pytest started, if it did (the pipeline owns it)."""
        self.config = config
        self.settings = settings
        self.record = RunRecord(started_at=time.time())
        self.is_worker = _xdist.is_worker(config)
        run_id = _xdist.join_controller(config, settings)
        serve = config.getoption("helm_eval_serve")
        self._server = ServedModel.start(serve, settings) if serve and not self.is_worker else None
        if settings.report_path is not None and not self.is_worker:
            ensure_writable(
                settings.report_path, "the run record", "pass --helm-eval-report PATH (or report:) elsewhere"
            )
        if settings.html_path is not None and not self.is_worker:
            ensure_writable(settings.html_path, "the HTML report", "pass --helm-eval-html PATH (or html:) elsewhere")
        gate = session_gate(config, settings)
        self.pipeline = Pipeline(settings, run_id=run_id, reclaim=not self.is_worker, transport=transport)
        self.end = SessionEnd(config, settings, self.pipeline, self.record, gate)
        self.feed = CaseFeed(config, self.pipeline, worker=self.is_worker)
        self._previous_sigterm = _stop_on_sigterm() if not self.is_worker else None
        if settings.suite_paths and not config.option.collectonly:
            # the HTTP worker loads on another core, and the endpoints answer, while suites are collected
            self.pipeline.warm_up(probe=self._server is None)  # a server being started is asked once it is up
        self._stdout = sys.stdout  # what pytest's terminal writer writes to (capturing is off while configuring)
        self.progress: ProgressLine | None = None
        # results decided by this process's reports, kept as objects until logged (workers send theirs as JSON)
        self._decided: dict[tuple[str, str], CaseResult] = {}

    # -- start: the served model, xdist workers ----------------------------------------------------------

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """Wait until a served vLLM answers; the xdist controller checks the endpoints before workers start."""
        try:
            if self._server is not None:
                self._server.wait_ready()
            if _xdist.is_controller(self.config) and self.settings.suite_paths:
                self.pipeline.dispatcher()
        except HelmEvalError as exc:
            raise pytest.UsageError(f"helm-eval: {exc}") from None

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: every worker shares this run's id (one budget, one ledger run) and served endpoint."""
        _xdist.share_with_worker(node, self.pipeline, self._server.base_url if self._server is not None else None)

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """pytest-xdist: what a worker noticed while collecting (a YAML file that is not a suite) is said here."""
        _xdist.take_notices(node, self.pipeline)

    # -- collect: send ahead ---------------------------------------------------------------------------------

    def send_early(self, cases: Sequence[Case], session: pytest.Session) -> None:
        """Send a suite's calls as soon as it is collected, when nothing can deselect them afterwards."""
        self.feed.send_early(cases, session)

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        """``--helm-eval-shard I/N``: deselect every item of the other shards (suite cases and Python tests)."""
        if self.settings.shard is not None:
            deselect_other_shards(config, items, self.settings.shard)

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Send every selected case not sent yet, in collection order; cancel what was deselected after all."""
        # What collection built (items, cases, suite data, imported modules) lives until the session ends; moved
        # out of the collector's reach, it is not traversed again by every full collection the run's allocations
        # trigger, nor by pytest's own at exit (measured: a third to a half of the run's GC time at 2,000 cases).
        gc.freeze()
        selected = self.feed.selected(session)
        if selected is None:
            return
        items, total = selected
        if not self.is_worker and wanted(self._stdout, self.config.get_verbosity()):
            budget, terminal = self.pipeline.budget, self.config.get_terminal_writer()
            self.progress = ProgressLine(self._stdout, lambda: budget.summary() if budget is not None else None,
                                         width=lambda: terminal.fullwidth)  # fmt: skip
            self.progress.total = total
        self.feed.send(items)

    # -- record ------------------------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        """Attach the case's result to the report that decides its status (it travels to the xdist controller)."""
        calls = item.stash.get(PYTHON_CALLS_KEY, None)
        if calls and call.when == "call" and RESULT_KEY not in item.stash:
            item.stash[RESULT_KEY] = entry = python_result(item, calls, self.pipeline)
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

    # -- end ---------------------------------------------------------------------------------------------

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Cases, outcomes, tokens and latency per suite."""
        if not self.is_worker:
            self.end.summary(terminalreporter)

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
            _xdist.hand_back_notices(self.config, self.pipeline)
        else:
            self.end.conclude(session)

    def pytest_unconfigure(self) -> None:
        """Never leave a server behind, whatever ended the session."""
        self._stop_server()
        if self._previous_sigterm is not None:
            signal.signal(signal.SIGTERM, self._previous_sigterm)

    def _stop_server(self) -> None:
        if self._server is not None:
            self._server.stop()


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


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    text = str(longrepr[2]) if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return text.removeprefix("Skipped: ")  # how pytest-xdist serialises a skip
