"""``helm-eval report``: publish run record(s) to GitHub or GitLab, and gate the check.

Examples::

    helm-eval report reports/run.json --github                  # annotations, outputs, summary, PR comment
    helm-eval report shard-*/run.json --github --merged-output reports/run.json
    helm-eval report reports/run.json --gitlab --out-dir reports  # codequality, metrics, dotenv, MR note
    helm-eval report reports/run.json --fail-on failure --pytest-status 1   # exit 1 when the check is red
    helm-eval report reports/run.json --html reports/report.html  # the single-file HTML report
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from helm_eval._records import RunRecord
from helm_eval.report._figures import FAIL_ON_CHOICES, gate
from helm_eval.report._json import read_run_record, write_run_record
from helm_eval.report._merge import merge_records


def add_report_command(subparsers: Any) -> None:
    """Register ``helm-eval report`` on the ``helm-eval`` subparsers."""
    report = subparsers.add_parser(
        "report",
        help="publish run record(s) to GitHub (annotations, summary, outputs, PR comment) or GitLab (code "
        "quality, metrics, dotenv, MR note), write the HTML report, and decide whether the check fails",
        description="Reads only run records (--helm-eval-report). Several records (a sharded matrix) are merged.",
    )
    report.add_argument("records", nargs="+", metavar="RUN_JSON", help="run record(s) written by --helm-eval-report")
    where = report.add_mutually_exclusive_group()
    where.add_argument("--github", action="store_true", help="publish to GitHub Actions")
    where.add_argument("--gitlab", action="store_true", help="write GitLab report files (and the MR note)")
    report.add_argument("--out-dir", default="helm-eval-reports", metavar="DIR", help="GitLab report files go here")
    report.add_argument("--merged-output", metavar="PATH", help="write the merged run record here")
    report.add_argument(
        "--html",
        metavar="PATH",
        help="write the HTML report here: one self-contained file (no network), cases filterable, outputs and "
        "verdicts per case, charts of tokens, cost and latency",
    )
    report.add_argument(
        "--html-link",
        metavar="URL",
        help="where readers find the HTML report, linked from the summary, PR comment and MR note (default with "
        "--html: the workflow run's artifacts on GitHub, the job's artifact file on GitLab)",
    )
    report.add_argument("--comment", choices=["on", "off"], default="on", help="PR comment / MR note (default on)")
    report.add_argument("--comment-key", default="report", help="tells apart several helm-eval comments on one PR")
    report.add_argument("--annotations", choices=["on", "off"], default="on",
                        help="GitHub annotations on the suite lines (default on; off in the shards of a matrix whose "
                             "report job annotates the merged record)")  # fmt: skip
    report.add_argument(
        "--token-env",
        metavar="NAME",
        help="variable holding the API token (GitHub default GITHUB_TOKEN; GitLab default HELM_EVAL_GITLAB_TOKEN, "
        "a project access token: CI_JOB_TOKEN cannot post notes)",
    )
    report.add_argument("--fail-on", choices=FAIL_ON_CHOICES,
                        help="exit 1 when the check is red under this rule (regression/significant need a baseline "
                             "in the record or --baseline; without one they act as failure)")  # fmt: skip
    report.add_argument("--baseline", metavar="PATH",
                        help="compare with this base run record (file, shard directory or glob) before publishing; "
                             "a missing one is reported as such")  # fmt: skip
    report.add_argument("--pytest-status", type=int, metavar="N", help="pytest's exit status, for --fail-on")
    report.add_argument("--json", action="store_true", help="print what was published as JSON on stderr")
    report.set_defaults(func=run_report)


def _load(paths: list[str]) -> tuple[RunRecord | None, list[str]]:
    records, missing = [], []
    for name in paths:
        path = Path(name)
        if path.is_file():
            records.append(read_run_record(path))
        else:
            missing.append(name)
    return (merge_records(records) if records else None), missing


_SAFE_URL = re.compile(r"https?://[^\s()<>\[\]\"'`]+")


def html_link(args: argparse.Namespace, env: Mapping[str, str]) -> list[str]:
    """The summary line pointing at the HTML report, or none.

    The URL is the runner's (``GITHUB_SERVER_URL``/``CI_JOB_URL``) or the workflow's ``--html-link``, never the
    pull request's; one that could break out of the markdown link is dropped.
    """
    if not args.html:
        return []
    url, where = args.html_link, ""
    if not url and args.github and env.get("GITHUB_RUN_ID"):
        server, repo = env.get("GITHUB_SERVER_URL", "https://github.com"), env.get("GITHUB_REPOSITORY", "")
        url, where = f"{server}/{repo}/actions/runs/{env['GITHUB_RUN_ID']}#artifacts", " (in the run's artifacts)"
    elif not url and args.gitlab and env.get("CI_JOB_URL"):
        path, root = Path(args.html), Path(env.get("CI_PROJECT_DIR") or ".").resolve()
        if path.is_absolute() and root in path.parents:
            path = path.relative_to(root)
        if not path.is_absolute() and ".." not in path.parts:
            url = f"{env['CI_JOB_URL']}/artifacts/file/{path.as_posix()}"
    if not url or not _SAFE_URL.fullmatch(url):
        return []
    return [f"📄 **HTML report** (every case, outputs, verdicts, charts): [{Path(args.html).name}]({url}){where}"]


def run_report(args: argparse.Namespace) -> int:
    """Run ``helm-eval report``; returns the exit status (1 only when ``--fail-on`` finds the check red)."""
    record, missing = _load(args.records)
    comparison = None
    if args.baseline and record is not None:
        from helm_eval.report._baseline import attach_baseline

        comparison = attach_baseline(record, args.baseline, trusted=True)
    if args.merged_output and record is not None:
        write_run_record(record, Path(args.merged_output))
    shown = record if record is not None else RunRecord()
    for name in missing:
        print(f"helm-eval report: no run record at {name}", file=sys.stderr)
    if args.html and record is not None:
        from helm_eval.report._html import baseline_of, write_html

        base = baseline_of(comparison, args.baseline) if comparison is not None else None
        size = write_html(record, Path(args.html), baseline=base)
        print(f"helm-eval report: wrote {args.html} ({size / 1024:,.0f} KiB)", file=sys.stderr)
    report_path = args.merged_output or (args.records[0] if len(args.records) == 1 else "")
    done: dict[str, Any] = {}
    if args.github:
        from helm_eval.report._github import as_json, publish

        token = os.environ.get(args.token_env or "GITHUB_TOKEN") or None
        result = publish(shown, report_path=report_path, comment=args.comment == "on", token=token,
                         key=args.comment_key, links=html_link(args, os.environ),
                         annotations=args.annotations == "on")  # fmt: skip
        done = as_json(result)
        print(f"helm-eval report: {result.annotations['error']} error and {result.annotations['warning']} warning "
              f"annotation(s), {result.not_annotated} more in the summary; summary "
              f"{'written' if result.summary_written else 'not written (not on GitHub)'}; comment {result.comment}",
              file=sys.stderr)  # fmt: skip
    elif args.gitlab:
        from helm_eval.report._gitlab import post_note, write_reports

        paths = write_reports(shown, Path(args.out_dir))
        done = {name: str(path) for name, path in paths.items()}
        token = os.environ.get(args.token_env or "HELM_EVAL_GITLAB_TOKEN")
        links = html_link(args, os.environ)
        note = "off" if args.comment == "off" else (post_note(shown, token, key=args.comment_key, links=links)
                                                     if token else "skipped: no project access token")  # fmt: skip
        done["note"] = note
        print(f"helm-eval report: wrote {', '.join(str(p) for p in paths.values())}; MR note {note}", file=sys.stderr)
    if args.json:
        print(json.dumps(done), file=sys.stderr)
    if args.fail_on is None:
        return 0
    red, reason = gate(record, args.pytest_status, args.fail_on)
    print(f"helm-eval report: check {'failed' if red else 'passed'} (fail-on {args.fail_on}): {reason}",
          file=sys.stderr)  # fmt: skip
    return 1 if red else 0
