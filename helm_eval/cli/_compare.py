"""``helm-eval compare BASE HEAD``: what a change did, from two run records (or two sets of shard records).

Examples::

    helm-eval compare base/run.json reports/run.json
    helm-eval compare base-shards/ head-shards/ --format markdown >> "$GITHUB_STEP_SUMMARY"
    helm-eval compare base.json head.json --format json --fail-on regression
    helm-eval compare base.json head.json --history .helm-eval/ledger.sqlite
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from helm_eval.cli._flaky import read_history, run_count
from helm_eval.config import HelmEvalError
from helm_eval.ledger import HISTORY_RUNS
from helm_eval.report import BaselineError, compare, load_records, merge_records, render_markdown, render_text

FAIL_ON = ("regression", "significant", "never")


def add_compare_command(subparsers: Any) -> None:
    """Register ``helm-eval compare`` on the ``helm-eval`` subparsers."""
    command = subparsers.add_parser(
        "compare",
        help="compare a base run with a head run: regressions, fixes, pass rates, tokens, latency, significance",
        description="BASE and HEAD are each a run record (--helm-eval-report), a directory of shard records (every "
        "*.json below it) or a quoted glob; shards are merged first. Exit status: 0, or 1 when --fail-on finds the "
        "head worse, 2 for a usage error.",
    )
    command.add_argument("base", metavar="BASE", help="the base run: a run record, a directory of shards, or a glob")
    command.add_argument("head", metavar="HEAD", help="the head run, in the same forms")
    command.add_argument("--format", choices=["text", "markdown", "json"], default="text",
                         help="text (default), markdown (job summary / PR comment) or json: top-level lists "
                              "regressed, fixed, added, removed (node ids), then the figures")  # fmt: skip
    command.add_argument("--fail-on", choices=FAIL_ON, default="never",
                         help="exit 1 on a new failure (regression: a case that passed now fails or errors, "
                              "or an added case fails), on a significant drop (significant), or never "
                              "(default)")  # fmt: skip
    command.add_argument("--alpha", type=_alpha, default=0.05, help="significance level of the tests (default 0.05)")
    command.add_argument("--history", metavar="LEDGER", default=None,
                         help="a ledger (SQLite file or postgresql:// URL): mark the cases whose recent runs there "
                              "both passed and failed as flaky in history (shown; never changes the exit "
                              "status)")  # fmt: skip
    command.add_argument("--history-branch", metavar="BRANCH", default=None,
                         help="whose runs count (default: the base run's branch label)")  # fmt: skip
    command.add_argument("--history-runs", metavar="N", type=run_count, default=HISTORY_RUNS,
                         help=f"how many recent runs per case (default {HISTORY_RUNS})")  # fmt: skip
    command.set_defaults(func=run_compare)


def _alpha(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--alpha expects a number between 0 and 1, got {text!r}") from None
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"--alpha must be between 0 and 1, got {value:g}")
    return value


def run_compare(args: argparse.Namespace) -> int:
    """Run ``helm-eval compare``; returns the exit status."""
    try:
        base, head = merge_records(load_records(args.base, "base")), load_records(args.head, "head")
    except BaselineError as exc:
        raise HelmEvalError(str(exc)) from None
    history = None
    if args.history:
        history = read_history(args.history, args.history_branch or base.labels.get("branch"), args.history_runs)
    result = compare(base, head, alpha=args.alpha, history=history)
    if args.format == "json":
        sys.stdout.write(json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(render_markdown(result))
    else:
        sys.stdout.write(render_text(result))
    if args.fail_on == "regression" and result.blocking:
        print(f"helm-eval compare: {len(result.blocking)} new failure(s)", file=sys.stderr)
        return 1
    if args.fail_on == "significant" and result.significant:
        print(f"helm-eval compare: the head is significantly worse (alpha {args.alpha:g})", file=sys.stderr)
        return 1
    return 0
