"""The end of a pytest session: the gate's verdict, the terminal summary and the files the run writes.

Only the process that holds the whole run record (a single process, or the pytest-xdist controller) does this.
The gate compares the record with its baseline and may turn the exit status red, or green when only cases it
forgives failed; the budget may turn it red. Each file (run record, HTML report, JUnit locations) is written on
its own: one that fails warns and never costs the others their output.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from helm_eval._records import RunRecord
from helm_eval.ledger import CaseHistory, case_history
from helm_eval.pipeline import Pipeline, RunSettings
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
from helm_eval.run._gate import SessionGate


class SessionEnd:
    """Judges the finished run and reports it: exit status, summary lines, run record, HTML, JUnit locations."""

    def __init__(
        self, config: pytest.Config, settings: RunSettings, pipeline: Pipeline, record: RunRecord, gate: SessionGate
    ) -> None:
        self.config = config
        self.settings = settings
        self.pipeline = pipeline
        self.record = record
        self.gate = gate
        self._comparison: Comparison | None = None
        self._comparison_label = "base"
        self._verdict = ""

    def conclude(self, session: pytest.Session) -> None:
        """Set the exit status (budget, gate), then write the run record, the HTML report and the JUnit lines."""
        budget = self.record.budget
        if budget is not None and budget.fails_check and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        self._judge(session)
        self.record.finished_at = time.time()
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

    def summary(self, terminalreporter: Any) -> None:
        """Cases, outcomes, tokens and latency per suite; budget, failover, baseline, gate; notices; file paths."""
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
