"""``helm-eval flaky``: the cases whose recent runs in the ledger both passed and failed, and a quarantine list.

Examples::

    helm-eval flaky --branch main
    helm-eval flaky --ledger postgresql://ci@db/helm --branch main --runs 20 --format yaml >> policy.yaml

The ledger is only read. What it prints is a suggestion: a quarantine takes effect only where a trusted policy
lists it (docs/compare.md, "Quarantine").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from helm_eval._text import inert
from helm_eval.config import HelmEvalError, LedgerError
from helm_eval.ledger import HISTORY_RUNS, CaseHistory, Ledger, case_history, flaky_cases, redact_url

DEFAULT_LEDGER = Path(".helm-eval") / "ledger.sqlite"


def run_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expects a whole number of runs, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expects at least 1 run, got {value}")
    return value


def add_flaky_command(subparsers: Any) -> None:
    """Register ``helm-eval flaky`` on the ``helm-eval`` subparsers."""
    command = subparsers.add_parser(
        "flaky",
        help="cases whose recent runs in the ledger both passed and failed, and a quarantine list to review",
        description="Reads the ledger (never writes it): for each case, its last --runs judged runs on --branch; "
        "a case with both passes and failures among them is flaky. --format yaml prints a gate.quarantine list to "
        "review and put in a trusted policy. Exit status 0 (also when nothing is flaky), 2 for a usage error.",
    )
    command.add_argument("--ledger", default=str(DEFAULT_LEDGER),
                         help=f"a SQLite ledger file or a postgresql:// URL (default: {DEFAULT_LEDGER})")  # fmt: skip
    command.add_argument("--branch", default=None,
                         help="the branch whose runs count (the runs' branch label, e.g. main); default: runs "
                              "recorded without a branch label (local runs)")  # fmt: skip
    command.add_argument("--runs", type=run_count, default=HISTORY_RUNS,
                         help=f"how many of each case's recent runs to look at (default {HISTORY_RUNS})")  # fmt: skip
    command.add_argument("--format", choices=["text", "json", "yaml"], default="text",
                         help="text (default), json, or yaml (a gate.quarantine list with the evidence as "
                              "comments)")  # fmt: skip
    command.set_defaults(func=run_flaky)


def read_history(url: str, branch: str | None, runs: int) -> dict[str, CaseHistory]:
    """Every case's last ``runs`` runs on ``branch`` from the ledger at ``url``, read-only; one-line errors."""
    try:
        ledger = Ledger(url, read_only=True)
        try:
            return case_history(ledger, branch, runs=runs)
        finally:
            ledger.close()
    except FileNotFoundError:
        raise LedgerError(f"no ledger at {url}: runs write one there (pytest --helm-eval)") from None
    except HelmEvalError:
        raise
    except Exception as exc:  # sqlite3 / psycopg errors: one line naming the ledger, no traceback
        detail = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise LedgerError(f"cannot read ledger {redact_url(url)}: {detail}") from None


def run_flaky(args: argparse.Namespace) -> int:
    """Run ``helm-eval flaky``; returns the exit status."""
    history = read_history(args.ledger, args.branch, args.runs)
    flaky = flaky_cases(history)
    if args.format == "json":
        data = {"branch": args.branch, "runs": args.runs, "cases": len(history), "flaky": [h.to_json() for h in flaky]}
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    elif args.format == "yaml":
        sys.stdout.write(_quarantine_yaml(flaky, args.branch, args.runs))
    else:
        where = f"on {args.branch}" if args.branch else "without a branch label"
        print(f"helm-eval flaky: {len(flaky)} of {len(history)} case(s) flaky in their last {args.runs} runs {where}")
        for case in flaky:
            print(f"  {inert(case.nodeid)}  {case.evidence}  ({' '.join(_marks(case))})")
    return 0


def _marks(case: CaseHistory) -> list[str]:
    """Newest first: ``P`` passed, ``F`` failed, ``E`` error."""
    return [{"passed": "P", "failed": "F"}.get(status, "E") for status in case.statuses]


def _quarantine_yaml(flaky: list[CaseHistory], branch: str | None, runs: int) -> str:
    where = f"on {branch}" if branch else "without a branch label"
    lines = [f"# flaky in their last {runs} runs {where}: review before putting this in a trusted policy",
             "gate:", "  quarantine:"]  # fmt: skip
    if not flaky:
        lines[-1] = "  quarantine: []"
    for case in flaky:
        comment = " ".join(case.evidence.split())  # a branch name must not end the comment line
        lines.append(f"    - {json.dumps(case.nodeid, ensure_ascii=False)}  # {comment}")
    return "\n".join(lines) + "\n"
