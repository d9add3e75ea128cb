"""``helm-eval plan``: a dry run with no generation calls.

Cases, calls, estimated tokens and cost per suite and model, whether the run fits its budget and what would be
cut. Only ``/tokenize`` is asked (never with ``--offline`` or without an endpoint).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from helm_eval._records import Call, Case
from helm_eval.collect import load_suite
from helm_eval.config import ConfigError, find_config_file, load_project_config
from helm_eval.dispatch import Endpoint
from helm_eval.ledger import Budget, CallNeed, CaseNeed, Denial, Ledger, ci_labels, parse_label_options
from helm_eval.ledger._budget import DEFAULT_MAX_TOKENS
from helm_eval.ledger._policy import ENV_POLICY, budget_plan, cli_budget, cost_model, ledger_url, load_policy
from helm_eval.plan import Overrides, Planner, resolve_endpoints
from helm_eval.plan._estimate import Estimate, TokenEstimator


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
    parser.add_argument("--label", action="append", metavar="KEY=VALUE", help="attribution label, e.g. pr=42")
    parser.add_argument("--format", choices=["table", "json"], default="table")
    parser.set_defaults(func=run_plan)


def run_plan(args: argparse.Namespace) -> int:
    """Carry out ``helm-eval plan``; returns the exit status."""
    import os

    root = Path.cwd()
    config_path = Path(args.config) if args.config else find_config_file(root)
    config = load_project_config(config_path, root)
    suite_files = [Path(p) for p in args.paths] or sorted(
        {p for pattern in config.suites for p in root.glob(pattern) if p.is_file()}
    )
    cases: list[Case] = []
    for path in suite_files:
        cases.extend(load_suite(path, _display(path, root), config.options))
    offline = args.offline
    try:
        endpoints, default = resolve_endpoints(config, Overrides(endpoint=args.endpoint, model=args.model))
    except ConfigError:
        # no endpoint anywhere: plan with offline estimates against a placeholder
        endpoints, default, offline = {"default": Endpoint("default", "", args.model, None, 1, 1.0)}, "default", True
    planner = Planner(endpoints, default)
    if not offline:
        _discover_models(endpoints)
    for endpoint in endpoints.values():
        endpoint.model = endpoint.model or "default"
    planned = [(case, planner.calls(case)) for case in cases]
    estimates = _estimate([call for _, calls in planned for call in calls], endpoints, offline=offline)
    policy = load_policy(args.policy or os.environ.get(ENV_POLICY))
    plan = budget_plan(
        config,
        config_path.name if config_path else "config",
        policy,
        cli_budget(args.budget_tokens, args.budget_usd, args.budget_scope),
    )
    prices = cost_model(config, policy[0])
    rows: dict[tuple[str, str], dict[str, Any]] = defaultdict(
        lambda: {"cases": 0, "calls": 0, "prompt_tokens": 0, "max_completion_tokens": 0, "cost_usd": 0.0}
    )
    needs: list[CaseNeed] = []
    methods: set[str] = set()
    it = iter(estimates)
    for case, calls in planned:
        call_needs = []
        for call in calls:
            estimate: Estimate = next(it)
            methods.add(estimate.method)
            max_tokens = int(call.params.get("max_tokens") or DEFAULT_MAX_TOKENS)
            row = rows[(case.file, call.model)]
            row["calls"] += 1
            row["prompt_tokens"] += estimate.tokens
            row["max_completion_tokens"] += max_tokens
            row["cost_usd"] += prices.token_cost(call.endpoint, call.model, estimate.tokens, max_tokens) or 0.0
            call_needs.append(
                CallNeed(call.model, call.endpoint, estimate.reserve() + max_tokens,
                         prices.token_cost(call.endpoint, call.model, estimate.reserve(), max_tokens) or 0.0)
            )  # fmt: skip
        rows[(case.file, calls[0].model if calls else "-")]["cases"] += 1
        needs.append(CaseNeed(case.file, case.id, tuple(call_needs)))
    cut: list[tuple[Case, Denial]] = []
    if plan.active:
        labels: dict[str, str | None] = {**ci_labels(), **parse_label_options(args.label)}
        ledger = Ledger(ledger_url(args.ledger or config.ledger, root))
        order = sorted(range(len(cases)), key=lambda i: -cases[i].priority)
        verdicts = Budget(plan, ledger, "plan", labels).admit([needs[i] for i in order], dry_run=True)
        cut = [(cases[i], v) for i, v in zip(order, verdicts, strict=True) if isinstance(v, Denial)]
        ledger.close()
    result = {
        "suites": [{"suite": s, "model": m, **r} for (s, m), r in sorted(rows.items())],
        "estimates": sorted(methods),
        "budget": [{"scope": c.scope, "unit": c.unit, "limit": c.limit, "source": c.source} for c in plan.caps],
        "fits": not cut,
        "cut": [{"case": f"{c.file}::{c.id}", "line": c.line, "reason": str(d)} for c, d in cut],
    }
    sys.stdout.write(json.dumps(result, indent=2) + "\n" if args.format == "json" else _table(result))
    return 1 if cut else 0


def _discover_models(endpoints: dict[str, Endpoint]) -> None:
    """Fill in the model of endpoints that serve exactly one (as the plugin does at session start)."""
    from helm_eval.dispatch._client import list_models

    async def discover() -> None:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            for endpoint in endpoints.values():
                if endpoint.model is None:
                    try:
                        models = await list_models(session, endpoint)
                    except ConnectionError:
                        continue
                    if len(models) == 1:
                        endpoint.model = models[0]

    asyncio.run(discover())


def _estimate(calls: list[Call], endpoints: dict[str, Any], offline: bool) -> list[Estimate]:
    estimator = TokenEstimator()
    if offline:
        return [estimator.offline(call.messages) for call in calls]

    async def all_of() -> list[Estimate]:
        import aiohttp

        slots = asyncio.Semaphore(32)
        async with aiohttp.ClientSession() as session:

            async def one(call: Call) -> Estimate:
                async with slots:
                    return await estimator.estimate(session, endpoints[call.endpoint], call)

            return list(await asyncio.gather(*(one(c) for c in calls)))

    return asyncio.run(all_of())


def _table(result: dict[str, Any]) -> str:
    head = ("suite", "model", "cases", "calls", "prompt tokens", "max completion", "est. cost")
    body = [
        (r["suite"], r["model"], str(r["cases"]), str(r["calls"]), f"{r['prompt_tokens']:,}",
         f"{r['max_completion_tokens']:,}", f"${r['cost_usd']:.4f}")
        for r in result["suites"]
    ]  # fmt: skip
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    lines.append(f"estimated with: {', '.join(result['estimates']) or '-'} (only tokenize is exact)")
    for cap in result["budget"]:
        amount = f"{cap['limit']:,.0f} tokens" if cap["unit"] == "tokens" else f"${cap['limit']:.4f}"
        lines.append(f"budget: {cap['scope']} {amount} (from {cap['source']})")
    if result["budget"]:
        lines.append("fits the budget" if result["fits"] else f"would cut {len(result['cut'])} case(s):")
    lines += [f"  {c['case']} (line {c['line']}): {c['reason']}" for c in result["cut"]]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _display(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()
