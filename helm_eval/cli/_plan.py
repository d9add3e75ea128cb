"""``helm-eval plan``: the pipeline as a dry run; no generation calls.

Cases, calls, estimated tokens and cost per suite and model, whether the run fits its budget and what would be
cut. Only ``/tokenize`` is asked (never with ``--offline`` or without an endpoint).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from helm_eval._records import Case
from helm_eval.collect import load_suite
from helm_eval.ledger import parse_label_options
from helm_eval.pipeline import BudgetOptions, Pipeline, Plan, RunSettings, plan_cases
from helm_eval.plan import Overrides


def add_plan_command(sub: Any) -> None:
    """Register ``helm-eval plan`` on the CLI's subparsers."""
    parser = sub.add_parser(
        "plan",
        help="dry run: estimated tokens and cost per suite and model, and what a budget would cut",
        description="Collect the suites and estimate every call (exact with vLLM's /tokenize, else tiktoken) "
        "without generating anything. Exit status 1 when the budget would cut cases.",
    )
    parser.add_argument("paths", nargs="*", help="suite files (default: the config's 'suites' globs)")
    parser.add_argument("--config", metavar="PATH", help="config file (default: helm-eval.yaml or pyproject.toml)")
    parser.add_argument("--endpoint", metavar="URL", help="OpenAI-compatible base URL (env HELM_EVAL_ENDPOINT)")
    parser.add_argument("--model", metavar="NAME", help="model name (env HELM_EVAL_MODEL)")
    parser.add_argument("--offline", action="store_true", help="never contact the endpoint: tiktoken estimates")
    parser.add_argument("--budget-tokens", type=int, metavar="N", help="token cap (like --helm-eval-budget-tokens)")
    parser.add_argument("--budget-usd", type=float, metavar="USD", help="USD cap")
    parser.add_argument("--budget-scope", choices=["run", "pull_request"], default="pull_request")
    parser.add_argument("--policy", metavar="PATH", help="trusted policy file (env HELM_EVAL_POLICY)")
    parser.add_argument("--ledger", metavar="PATH|URL", help="ledger holding what the PR already spent")
    parser.add_argument(
        "--cache", choices=["on", "off", "refresh", "replay-only"], help="response cache as the run would use it"
    )
    parser.add_argument("--label", action="append", metavar="KEY=VALUE", help="attribution label, e.g. pr=42")
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.set_defaults(func=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    """Carry out ``helm-eval plan``; returns the exit status (1 when the budget would cut cases)."""
    settings = RunSettings.load(
        Path.cwd(),
        args.config,
        overrides=Overrides(endpoint=args.endpoint, model=args.model),
        budget=BudgetOptions(
            tokens=args.budget_tokens,
            usd=args.budget_usd,
            scope=args.budget_scope,
            policy=args.policy,
            ledger=args.ledger,
            labels=parse_label_options(args.label),
            cache=args.cache,
        ),
    )
    files = [Path(p) for p in args.paths] or sorted(settings.suite_paths)
    cases: list[Case] = []
    for path in files:
        cases.extend(load_suite(path, settings.display_path(path), settings.config.options, settings.matrix()))
    with Pipeline(settings, dry_run=True) as pipeline:
        pipeline.offline = args.offline
        plan = plan_cases(pipeline, cases)
    sys.stdout.write(json.dumps(plan.to_json(), indent=2) + "\n" if args.format == "json" else _table(plan))
    return 0 if plan.fits else 1


def _table(plan: Plan) -> str:
    head = ("suite", "model", "cases", "calls", "prompt tokens", "max completion", "est. cost", "admitted")
    body = [
        (s.suite, s.model, str(s.cases), str(s.calls), f"{s.prompt_tokens:,}", f"{s.max_completion_tokens:,}",
         f"${s.cost_usd:.4f}", str(s.admitted))
        for s in plan.suites
    ]  # fmt: skip
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    lines.append(f"estimated with: {', '.join(plan.methods) or '-'} (only tokenize is exact)")
    for cap in plan.caps:
        amount = f"{cap.limit:,.0f} tokens" if cap.unit == "tokens" else f"${cap.limit:.4f}"
        lines.append(f"budget: {cap.scope} {amount} (from {cap.source})")
    if plan.caps:
        lines.append("fits the budget" if plan.fits else f"would cut {len(plan.cut)} case(s):")
    lines += [f"  {case.file}::{case.id} (line {case.line}): {denial}" for case, denial in plan.cut]
    return "\n".join(line.rstrip() for line in lines) + "\n"
