"""Reporters; every one reads the ``RunRecord`` and nothing else."""

from helm_eval.report._cli import add_report_command
from helm_eval.report._cost_cli import add_cost_command
from helm_eval.report._json import read_run_record, write_run_record
from helm_eval.report._junit import add_locations, junit_names
from helm_eval.report._terminal import budget_lines, failover_lines, summary_rows, write_summary

__all__ = [
    "add_cost_command",
    "add_locations",
    "add_report_command",
    "budget_lines",
    "failover_lines",
    "junit_names",
    "read_run_record",
    "summary_rows",
    "write_run_record",
    "write_summary",
]
