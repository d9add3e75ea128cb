"""Reporters; every one reads the ``RunRecord`` and nothing else."""

from helm_eval.report._baseline import (
    BaselineError,
    Gate,
    HistoryOf,
    attach_baseline,
    baseline_lines,
    history_lines,
    judge,
    load_records,
    mark_history,
    quarantine_lines,
)
from helm_eval.report._cli import add_report_command
from helm_eval.report._compare import CHANGES, CaseChange, Change, Comparison, GroupDelta, Side, compare
from helm_eval.report._compare_render import comparison_headline, render_markdown, render_text
from helm_eval.report._cost_cli import add_cost_command
from helm_eval.report._html import Baseline, CaseDelta, baseline_of, render_html, write_html
from helm_eval.report._json import read_run_record, write_run_record
from helm_eval.report._junit import add_locations, junit_names
from helm_eval.report._merge import merge_records
from helm_eval.report._terminal import budget_lines, failover_lines, summary_rows, write_summary

__all__ = [
    "CHANGES",
    "Baseline",
    "BaselineError",
    "CaseChange",
    "CaseDelta",
    "Change",
    "Comparison",
    "Gate",
    "GroupDelta",
    "HistoryOf",
    "Side",
    "add_cost_command",
    "add_locations",
    "add_report_command",
    "attach_baseline",
    "baseline_lines",
    "baseline_of",
    "budget_lines",
    "compare",
    "comparison_headline",
    "failover_lines",
    "history_lines",
    "judge",
    "junit_names",
    "load_records",
    "mark_history",
    "merge_records",
    "quarantine_lines",
    "read_run_record",
    "render_html",
    "render_markdown",
    "render_text",
    "summary_rows",
    "write_html",
    "write_run_record",
    "write_summary",
]
