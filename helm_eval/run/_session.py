"""The per-session run object: dispatch ahead after collection, collect results, write reports.

Registered with the plugin manager only when ``--helm-eval`` is given, so pytest runs without the flag pay
nothing. Its hooks are the pipeline's seams: plan and dispatch after collection, record per report, report
at the end.
"""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any

import pytest

from helm_eval._records import Call, Case, CaseResult, Outcome, RunRecord
from helm_eval._text import excerpt
from helm_eval.checks import InputBlocked, scan_inputs
from helm_eval.config import HelmEvalError
from helm_eval.dispatch import Dispatcher, Endpoint
from helm_eval.ledger import Denial
from helm_eval.plan import Overrides, Planner, resolve_endpoints
from helm_eval.report import add_locations, budget_lines, write_run_record, write_summary
from helm_eval.run._accounting import Accounting
from helm_eval.run._items import (
    OUTPUT_EXCERPT,
    RESULT_KEY,
    BudgetCut,
    CaseCallError,
    CaseItem,
    record_usage_properties,
)
from helm_eval.run._settings import Settings

PYTHON_CALLS_KEY = pytest.StashKey[list[Outcome]]()


class HelmEvalRun:
    """State of one helm-eval session (stored in ``config.stash``, never in module globals)."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        self.record = RunRecord(started_at=time.time())
        self.is_worker = hasattr(config, "workerinput")
        self._endpoints: dict[str, Endpoint] | None = None
        self._planner: Planner | None = None
        self._dispatcher: Dispatcher | None = None
        self._futures: dict[str, list[concurrent.futures.Future[Outcome]]] = {}
        self._checked = False
        self._check_error: HelmEvalError | None = None
        self._server: Any = None
        self._denied: dict[str, Denial] = {}
        self._blocked: dict[str, InputBlocked | None] = {}
        shared: dict[str, Any] = getattr(config, "workerinput", {})
        self.accounting = Accounting(
            settings, settings.budget, is_worker=self.is_worker, run_id=shared.get("helm_eval_run_id")
        )
        if shared.get("helm_eval_endpoint"):
            # the controller started vLLM (--helm-eval-serve); workers use it
            overrides = settings.overrides
            settings.overrides = Overrides(shared["helm_eval_endpoint"], shared.get("helm_eval_model"),
                                           overrides.concurrency, overrides.timeout)  # fmt: skip
        serve = config.getoption("helm_eval_serve")
        if serve and not self.is_worker:
            self._start_server(serve)

    def _start_server(self, model: str) -> None:
        """Start vLLM now (it loads while pytest collects); the endpoint override points at it."""
        from helm_eval.serve import ModelPrepError, ServerStartError, VLLMServer, resolve_model

        try:
            path, name = resolve_model(model)
            self._server = VLLMServer(path, served_model_name=name)
            self._server.start()
        except (ServerStartError, ModelPrepError, ValueError, OSError) as exc:
            raise HelmEvalError(f"--helm-eval-serve {model}: {exc}") from None
        overrides = self.settings.overrides
        self.settings.overrides = Overrides(self._server.base_url, name, overrides.concurrency, overrides.timeout)

    def _wait_for_server(self) -> None:
        if self._server is None:
            return
        from helm_eval.serve import ServerStartError

        try:
            self._server.wait_ready()
        except ServerStartError as exc:
            self._stop_server()
            raise HelmEvalError(f"vLLM did not start: {exc}") from None

    def _stop_server(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        """With ``--helm-eval-serve``: wait until vLLM answers before anything is sent.

        The pytest-xdist controller collects nothing, so it checks the endpoints here, before any worker
        starts: a dead endpoint is then one error, not one per worker or per case.
        """
        try:
            self._wait_for_server()
            if self._is_xdist_controller() and self.settings.suite_paths:
                self.dispatcher()
        except HelmEvalError as exc:
            raise pytest.UsageError(f"helm-eval: {exc}") from None

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """pytest-xdist: every worker shares this run's id (one budget, one ledger run) and served endpoint."""
        node.workerinput["helm_eval_run_id"] = self.accounting.run_id
        if self._server is not None:
            node.workerinput["helm_eval_endpoint"] = self._server.base_url
            node.workerinput["helm_eval_model"] = self.settings.overrides.model

    def _is_xdist_controller(self) -> bool:
        return not self.is_worker and self.config.pluginmanager.has_plugin("dsession")

    # -- set-up -------------------------------------------------------------------------------------------

    @property
    def endpoints(self) -> dict[str, Endpoint]:
        """Resolved endpoints (config file, then environment, then command line)."""
        if self._endpoints is None:
            self._endpoints, default = resolve_endpoints(self.settings.config, self.settings.overrides)
            self._planner = Planner(self._endpoints, default)
        return self._endpoints

    @property
    def planner(self) -> Planner:
        """The planner routing cases to endpoints."""
        _ = self.endpoints
        assert self._planner is not None
        return self._planner

    def display_path(self, path: Path) -> str:
        """``path`` relative to the rootdir with forward slashes (how suites are named everywhere)."""
        try:
            return path.resolve().relative_to(self.settings.rootdir.resolve()).as_posix()
        except ValueError:
            return path.as_posix()

    def endpoint_url(self, name: str) -> str:
        """Base URL of endpoint ``name`` (for messages)."""
        endpoint = self.endpoints.get(name)
        return endpoint.base_url if endpoint else "?"

    def check_case_endpoint(self, case: Case) -> None:
        """Fail collection of a case that names an endpoint nobody configured."""
        from helm_eval.config import SuiteError

        if case.endpoint is not None and case.endpoint not in self.endpoints:
            known = ", ".join(sorted(self.endpoints))
            raise SuiteError(case.file, case.line, f"unknown endpoint {case.endpoint!r} (configured: {known})")

    def dispatcher(self) -> Dispatcher:
        """The dispatcher, started and with every endpoint it will use checked once."""
        if self._dispatcher is None:
            self._dispatcher = Dispatcher(
                self.endpoints, retries=self.settings.retries, on_finished=self.accounting.on_finished
            )
            self._dispatcher.start()
        if not self._checked:
            self._checked = True
            try:
                self._check_endpoints(self._dispatcher)
            except HelmEvalError as exc:
                self._check_error = exc
        if self._check_error is not None:
            raise self._check_error  # every later use fails the same clear way, never with a side error
        return self._dispatcher

    def _check_endpoints(self, dispatcher: Dispatcher) -> None:
        """Ask every endpoint for its models once, so a dead server is one clear error, not N timeouts."""
        problems: list[str] = []
        for name, answer in dispatcher.check_endpoints().items():
            endpoint = self.endpoints[name]
            if isinstance(answer, str):
                problems.append(f"endpoint {name!r} at {endpoint.base_url} is unreachable: {answer}")
            elif endpoint.model is None:
                if len(answer) == 1:
                    endpoint.model = answer[0]
                else:
                    problems.append(
                        f"endpoint {name!r} serves {len(answer)} models ({', '.join(answer) or 'none'}); "
                        "choose one with --helm-eval-model or the endpoint's model"
                    )
            elif endpoint.model not in answer:
                problems.append(
                    f"endpoint {name!r} at {endpoint.base_url} does not serve model {endpoint.model!r} "
                    f"(it serves: {', '.join(answer) or 'nothing'})"
                )
        if problems:
            raise HelmEvalError("; ".join(problems))

    # -- plan and dispatch ------------------------------------------------------------------------------

    def submit_all(self, items: Sequence[CaseItem]) -> None:
        """Plan, estimate, admit under the budget (highest priority first) and send the calls of ``items``."""
        items = [item for item in items if item.nodeid not in self._futures and item.nodeid not in self._denied]
        items = [item for item in items if not self._blocked_by_input_guardrails(item)]
        if not items:
            return
        dispatcher = self.dispatcher()
        planned = [(item.case, self.planner.calls(item.case)) for item in items]
        verdicts = self.accounting.prepare(dispatcher, planned)
        order = sorted(range(len(items)), key=lambda i: -items[i].case.priority)
        for index in order:
            item, verdict = items[index], verdicts[index]
            if isinstance(verdict, Denial):
                self._denied[item.nodeid] = verdict
            else:
                item.calls = verdict
                self._futures[item.nodeid] = [self._send(dispatcher, call) for call in verdict]

    def _send(self, dispatcher: Dispatcher, call: Call) -> concurrent.futures.Future[Outcome]:
        """Dispatch ``call``, or answer it from the response cache (a hit is recorded but costs nothing)."""
        hit = self.accounting.cached.get(call.cache_key) if call.cache_key else None
        if hit is None:
            return dispatcher.submit(call)
        now = time.time()
        self.accounting.on_finished(call, hit, True, now, now)
        future: concurrent.futures.Future[Outcome] = concurrent.futures.Future()
        future.set_result(hit)
        return future

    def _blocked_by_input_guardrails(self, item: CaseItem) -> bool:
        """Scan the case's inputs once; a finding keeps all its calls from being planned or sent."""
        if item.nodeid not in self._blocked:
            findings = scan_inputs(item.case)
            self._blocked[item.nodeid] = InputBlocked(findings) if findings else None
        return self._blocked[item.nodeid] is not None

    def outcomes_for(self, item: CaseItem) -> list[Outcome]:
        """Wait for the outcomes of ``item``'s calls, submitting them now if they were not sent ahead.

        Raises ``BudgetCut`` when the budget did not admit the case.
        """
        self.submit_all([item])
        blocked = self._blocked.get(item.nodeid)
        if blocked is not None:
            raise blocked
        denial = self._denied.get(item.nodeid)
        if denial is not None:
            raise BudgetCut(denial)
        return [future.result() for future in self._futures[item.nodeid]]

    def call(self, call: Call, case: Case) -> Outcome:
        """Send one call from a Python test through the same planning, budget and dispatch, and wait for it."""
        dispatcher = self.dispatcher()
        verdict = self.accounting.prepare(dispatcher, [(case, [call])])[0]
        if isinstance(verdict, Denial):
            raise BudgetCut(verdict)
        return self._send(dispatcher, verdict[0]).result()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Dispatch ahead: submit the calls of every selected case now, in collection order.

        xdist workers collect every item but run only those the controller hands them, so there each item
        submits its own calls when it starts.
        """
        items = [item for item in session.items if isinstance(item, CaseItem)]
        uses_model = any("helm_model" in getattr(item, "fixturenames", ()) for item in session.items)
        if not (items or uses_model) or not _will_run(session):
            return
        try:
            self.dispatcher()
            if not self.is_worker:
                self.submit_all(items)
        except HelmEvalError as exc:
            if self.is_worker:
                return  # pytest.exit in a worker crashes the xdist controller; each item reports the error
            pytest.exit(f"helm-eval: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)

    # -- record ----------------------------------------------------------------------------------------

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
        """Attach the case's result to the report that decides its status (it travels to the xdist controller)."""
        calls = item.stash.get(PYTHON_CALLS_KEY, None)
        if calls and call.when == "call" and RESULT_KEY not in item.stash:
            item.stash[RESULT_KEY] = python_result(item, calls)
            item.stash[RESULT_KEY].cost_usd = self.accounting.case_cost(calls)
            record_usage_properties(item, item.stash[RESULT_KEY])
        report = yield
        if report.when == "setup" and call.excinfo is not None and isinstance(call.excinfo.value, CaseCallError):
            # pytest renders set-up errors without repr_failure; ours explain themselves, without a traceback
            report.longrepr = str(call.excinfo.value)
        decides = report.when == "call" or (report.when == "setup" and not report.passed)
        result: CaseResult | None = item.stash.get(RESULT_KEY, None)
        if decides and (result is not None or isinstance(item, CaseItem)):
            if result is None:
                assert isinstance(item, CaseItem)
                result = CaseResult(item.nodeid, item.case.file, item.case.line, "skipped", suite=item.case.file)
            if report.when == "setup":
                result.status = "skipped" if report.skipped else "error"
                if report.skipped:
                    result.skip_reason = _skip_reason(report)
            else:
                result.status = "passed" if report.passed else ("skipped" if report.skipped else "failed")
            report.helm_eval = result.to_json()
        return report

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Collect results from reports (here or from xdist workers)."""
        data = getattr(report, "helm_eval", None)
        if isinstance(data, dict):
            self.record.cases.append(CaseResult.from_json(data))

    # -- report ----------------------------------------------------------------------------------------

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        """Cases, outcomes, tokens and latency per suite."""
        if self.is_worker or not self.record.cases:
            return
        self.record.finished_at = time.time()
        terminalreporter.write_sep("=", "helm-eval")
        write_summary(self.record, terminalreporter.write_line)
        for line in budget_lines(self.record):
            terminalreporter.write_line(line)
        if self.settings.report_path is not None:
            terminalreporter.write_line(f"run record: {self.settings.report_path}")

    def pytest_unconfigure(self) -> None:
        """Never leave a server behind, whatever ended the session."""
        self._stop_server()

    def pytest_keyboard_interrupt(self) -> None:
        """Ctrl-C: cancel every call still queued."""
        if self._dispatcher is not None:
            self._dispatcher.cancel_pending()

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        """Stop dispatching, then write the run record and add suite lines to the JUnit XML."""
        if self._dispatcher is not None:
            self._dispatcher.close()
            self._dispatcher = None
        self._stop_server()
        for warning in self.accounting.close():
            self.config.issue_config_time_warning(pytest.PytestWarning(f"helm-eval: {warning}"), stacklevel=2)
        if self.is_worker:
            return
        self.accounting.finish(self.record)
        budget = self.record.budget
        if budget and budget.get("exhausted") and budget.get("action") == "fail" and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        self.record.finished_at = time.time()
        self.record.endpoints = {
            name: {"url": ep.base_url, "model": ep.model or ""} for name, ep in (self._endpoints or {}).items()
        }
        if self.settings.report_path is not None:
            write_run_record(self.record, self.settings.report_path)
        xml_path = self.config.getoption("xmlpath", None)
        if xml_path:
            add_locations(Path(xml_path), self.record.cases, self.config.getoption("junitprefix", None))


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


def _will_run(session: pytest.Session) -> bool:
    """False when pytest stops after collection (``--collect-only``, or collection errors): nothing to send."""
    option = session.config.option
    if option.collectonly:
        return False
    return not (session.testsfailed and not option.continue_on_collection_errors)


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr)
