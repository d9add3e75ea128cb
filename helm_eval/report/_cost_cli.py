"""The ``helm-eval cost`` subcommand: read the ledger (never write it) and print spend grouped by labels."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from helm_eval.report._cost import DIMENSIONS, MEASURES, aggregate, parse_since, render

DEFAULT_LEDGER = Path(".helm-eval") / "ledger.sqlite"
FORMATS = ("table", "csv", "json", "openmetrics")


def _by(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in DIMENSIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown dimension {', '.join(unknown) or repr(text)}: choose from {','.join(DIMENSIONS)}"
        )
    return list(dict.fromkeys(names))


def _since(text: str) -> str:
    try:
        parse_since(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("--since expects", "expects")) from None
    return text


def add_cost_command(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``helm-eval cost`` on the ``helm-eval`` parser's subcommands."""
    cost = subparsers.add_parser(
        "cost",
        help="spend from the ledger by team, repo, workflow, suite or model",
        description="Read the ledger (read-only) and print calls, tokens and USD grouped by labels, optionally per "
        "ISO week. Calls a killed run had in flight appear with kind 'unsettled', charged in full.",
    )
    cost.add_argument(
        "--ledger",
        metavar="PATH|URL",
        default=str(DEFAULT_LEDGER),
        help=f"a SQLite ledger file or a postgresql:// URL (default: {DEFAULT_LEDGER} in the current directory)",
    )
    cost.add_argument("--since", metavar="7d|DATE", type=_since, help="only calls since: 7d, 12h, 2w or an ISO date")
    cost.add_argument(
        "--by",
        metavar="DIMS",
        type=_by,
        default=["team"],
        help=f"comma-separated grouping, from {','.join(DIMENSIONS)} (default: team)",
    )
    cost.add_argument("--weekly", action="store_true", help="one row per ISO week and group: the weekly trend")
    cost.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    cost.set_defaults(func=run_cost)


def run_cost(args: argparse.Namespace) -> int:
    """Print the aggregated spend; 0 on success (also when nothing matched)."""
    from helm_eval.config import HelmEvalError, LedgerError
    from helm_eval.ledger import Ledger, redact_url

    url = str(args.ledger)
    try:
        ledger = Ledger(url, read_only=True)
        try:
            rows = ledger.calls(since=parse_since(args.since))
        finally:
            ledger.close()
    except FileNotFoundError:
        raise LedgerError(
            f"no ledger at {url}: runs write one there (pytest --helm-eval); pass --ledger PATH or a postgresql:// URL"
        ) from None
    except HelmEvalError:
        raise
    except Exception as exc:  # sqlite3 / psycopg errors: one line naming the ledger, no traceback
        detail = "; ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        raise LedgerError(f"cannot read ledger {redact_url(url)}: {detail}") from None
    grouped = aggregate(rows, args.by, weekly=args.weekly)
    if args.format == "table":
        if not grouped:
            since = f" since {args.since}" if args.since else ""
            print(f"helm-eval: no calls in {redact_url(url)}{since}", file=sys.stderr)
            return 0
        if len(grouped) > 1:
            grouped.append(_total(grouped))
    sys.stdout.write(render(grouped, args.format))
    return 0


def _total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    labels = [name for name in rows[0] if name not in MEASURES]
    total: dict[str, Any] = dict.fromkeys(labels, "")
    total[labels[0]] = "total"
    for measure in MEASURES:
        total[measure] = sum(row[measure] for row in rows)
    total["cost_usd"] = round(total["cost_usd"], 6)
    return total
