"""Budget admission, the ledger and cost for one session: every call passes here before and after dispatch."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from helm_eval._records import Call, Case, CaseResult, Outcome, RunRecord
from helm_eval.dispatch import Dispatcher, ResponseCache, cache_key
from helm_eval.ledger import (
    Budget,
    CallNeed,
    CallRow,
    CaseNeed,
    CodeOwners,
    Denial,
    Ledger,
    ci_labels,
)
from helm_eval.ledger._budget import DEFAULT_MAX_TOKENS
from helm_eval.ledger._policy import ENV_POLICY, budget_plan, cli_budget, cost_model, ledger_url, load_policy
from helm_eval.ledger._writer import Finished, LedgerWriter
from helm_eval.plan._estimate import Estimate, TokenEstimator


@dataclasses.dataclass(slots=True)
class BudgetOptions:
    """Budget settings from the command line (a trusted source, like the policy file)."""

    tokens: int | None = None
    usd: float | None = None
    scope: str = "pull_request"
    on_exhausted: str | None = None
    policy: str | None = None
    ledger: str | None = None
    labels: dict[str, str] = dataclasses.field(default_factory=dict)
    cache: str | None = None


class Accounting:
    """What the session spends: estimates, reservations, the ledger writer, costs and the budget summary."""

    def __init__(self, settings: Any, options: BudgetOptions, *, is_worker: bool, run_id: str | None = None) -> None:
        config = settings.config
        self.rootdir: Path = settings.rootdir
        self.run_id = run_id or uuid.uuid4().hex[:16]
        """One id per session; xdist workers get the controller's through ``workerinput``."""
        self.labels: dict[str, str | None] = {**ci_labels(), **options.labels}
        policy = load_policy(options.policy or os.environ.get(ENV_POLICY))
        cli = cli_budget(options.tokens, options.usd, options.scope, options.on_exhausted)
        config_source = settings.config_path.name if settings.config_path else "config"
        self.plan = budget_plan(config, config_source, policy, cli)
        self.cost = cost_model(config, policy[0])
        self.ledger_url = ledger_url(options.ledger or config.ledger, self.rootdir)
        self.ledger = Ledger(self.ledger_url)
        if not is_worker:
            self.ledger.reclaim_dead()
        self.budget = Budget(self.plan, self.ledger, self.run_id, self.labels) if self.plan.active else None
        mode = options.cache or config.cache
        self.cache_reads = mode == "on"
        self.cache = None if mode == "off" else ResponseCache(_cache_path(config.cache_path, self.rootdir))
        self.cached: dict[str, Outcome] = {}
        """Hits found by ``prepare``, by cache key; ``submit`` answers these calls without sending them."""
        self.writer = LedgerWriter(self.ledger_url, self._row, cache=self.cache)
        self.estimator = TokenEstimator()
        self.codeowners = CodeOwners.find(self.rootdir)
        self._wall: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    # -- before dispatch -----------------------------------------------------------------------------------

    def owner(self, case: Case) -> str | None:
        """Team the case is attributed to: its metadata ``owner``/``team``, else CODEOWNERS of its suite."""
        for key in ("owner", "team"):
            value = case.metadata.get(key)
            if isinstance(value, str) and value:
                return value
        return self.codeowners.owner(case.file)

    def prepare(self, dispatcher: Dispatcher, planned: Sequence[tuple[Case, list[Call]]]) -> list[list[Call] | Denial]:
        """Estimate prompt tokens, then admit cases under the budget in priority order.

        Returns, per case in the given order, its calls (with estimates and reservations attached) or the
        ``Denial`` that cut it.
        """
        calls = [call for _, case_calls in planned for call in case_calls]
        # estimates serve admission; without a budget they would only delay the first call
        estimating = self.budget is not None and bool(calls)
        estimates = dispatcher.run(self._estimate_all(dispatcher, calls)) if estimating else [None] * len(calls)
        by_call: dict[int, Estimate | None] = dict(zip(map(id, calls), estimates, strict=True))
        prepared: list[list[Call]] = []
        needs: list[CaseNeed] = []
        for case, case_calls in planned:
            owner = self.owner(case)
            ready = []
            for call in case_calls:
                estimate = by_call[id(call)]
                params = call.params
                if self.budget is not None and params.get("max_tokens") is None:
                    params = {**params, "max_tokens": DEFAULT_MAX_TOKENS}  # a budget needs a bound on completions
                ready.append(
                    dataclasses.replace(
                        call,
                        params=params,
                        estimated_prompt_tokens=estimate.tokens if estimate else None,
                        owner=owner,
                        suite=case.file,
                    )
                )
            if self.cache is not None:
                ready = [self._with_cache_key(dispatcher, c) for c in ready]
            prepared.append(ready)
            if not estimating:
                continue
            needs.append(
                CaseNeed(case.file, case.id, tuple(
                    CallNeed(c.model, c.endpoint, 0, 0.0) if c.cache_key in self.cached
                    else self._need(c, _reserve(by_call[id(orig)]))
                    for c, orig in zip(ready, case_calls, strict=True)
                ))
            )  # fmt: skip
        if self.budget is None:
            return list(prepared)
        order = sorted(range(len(planned)), key=lambda i: -planned[i][0].priority)
        verdicts = self.budget.admit([needs[i] for i in order])
        result: list[list[Call] | Denial] = list(prepared)
        for index, verdict in zip(order, verdicts, strict=True):
            if isinstance(verdict, Denial):
                result[index] = verdict
            else:
                result[index] = [
                    dataclasses.replace(c, reservation=r) for c, r in zip(prepared[index], verdict, strict=True)
                ]
        return result

    def _with_cache_key(self, dispatcher: Dispatcher, call: Call) -> Call:
        """Attach the call's cache key, and remember the cached outcome when there is one (a hit)."""
        assert self.cache is not None
        key = cache_key(call, dispatcher.endpoints[call.endpoint].identity(call.model))
        if self.cache_reads and key not in self.cached:
            hit = self.cache.get(key)
            if hit is not None:
                self.cached[key] = hit
        return dataclasses.replace(call, cache_key=key)

    async def _estimate_all(self, dispatcher: Dispatcher, calls: list[Call]) -> list[Any]:
        slots = asyncio.Semaphore(32)

        async def one(call: Call) -> Any:
            async with slots:
                return await self.estimator.estimate(dispatcher.session, dispatcher.endpoints[call.endpoint], call)

        return list(await asyncio.gather(*(one(c) for c in calls)))

    def _need(self, call: Call, prompt_reserve: int) -> CallNeed:
        max_tokens = int(call.params.get("max_tokens") or DEFAULT_MAX_TOKENS)
        usd = self.cost.token_cost(call.endpoint, call.model, prompt_reserve, max_tokens) or 0.0
        return CallNeed(call.model, call.endpoint, prompt_reserve + max_tokens, usd)

    # -- after dispatch ------------------------------------------------------------------------------------

    def on_finished(self, call: Call, outcome: Outcome | None, sent: bool, started: float, ended: float) -> None:
        """Dispatcher callback (loop thread): queue the call for the ledger, track the endpoint's busy span."""
        if sent:
            with self._lock:
                span = self._wall.setdefault(call.endpoint, [started, ended])
                span[0], span[1] = min(span[0], started), max(span[1], ended)
        self.writer.put(Finished(call, outcome, sent, started, ended))

    def _row(self, item: Finished) -> CallRow:
        call, outcome = item.call, item.outcome
        reserved_prompt = call.estimated_prompt_tokens or 0
        max_tokens = int(call.params.get("max_tokens") or DEFAULT_MAX_TOKENS)
        if outcome is not None and outcome.prompt_tokens is not None and outcome.completion_tokens is not None:
            prompt, completion, status = outcome.prompt_tokens, outcome.completion_tokens, "ok"
        else:
            # sent but no usage came back (timeout, cut connection, cancelled in flight): the server may have
            # generated, so charge the full reservation rather than let a budget be exceeded unseen
            prompt, completion, status = reserved_prompt, max_tokens, "unknown-usage"
        return CallRow(
            run_id=self.run_id,
            labels={**self.labels, "team": call.owner},
            suite=call.suite,
            case_id=call.case_id,
            model=call.model,
            endpoint=call.endpoint,
            prompt_tokens=prompt,
            completion_tokens=completion,
            kind=call.kind,
            cost_usd=self.cost.token_cost(call.endpoint, call.model, prompt, completion),
            latency_ms=outcome.latency_ms if outcome is not None else None,
            status=status if outcome is None or outcome.error is None else "error",
            cache_hit=bool(outcome and outcome.cache_hit),
            ts=item.ended,
        )

    def case_cost(self, outcomes: Sequence[Outcome]) -> float | None:
        """Token-priced cost of a case's outcomes (GPU-hour shares are added at the end of the run)."""
        costs = [
            self.cost.token_cost(o.endpoint, o.model, o.prompt_tokens or 0, o.completion_tokens or 0) for o in outcomes
        ]
        known = [c for c in costs if c is not None]
        return sum(known) if known else None

    def close(self) -> list[str]:
        """Flush the ledger writer (and cache writes); returns their warnings."""
        self.writer.close()
        return [*self.writer.errors, *(self.cache.errors if self.cache is not None else [])]

    def finish(self, record: RunRecord) -> None:
        """GPU-hour cost shared by token share, then the budget summary (controller / single process)."""
        if self.cost.gpu_hourly_usd:
            self._share_gpu_cost(record.cases)
        if self.budget is not None:
            record.budget = self.budget.summary()
        record.labels = {k: v for k, v in self.labels.items() if v}
        record.labels["run_id"] = self.run_id

    def _share_gpu_cost(self, cases: list[CaseResult]) -> None:
        rows = self.ledger.calls(run_id=self.run_id)
        wall: dict[str, float] = {}
        tokens: dict[str, int] = {}
        spans: dict[str, tuple[float, float]] = {}
        for row in rows:
            endpoint = row["endpoint"]
            start = row["ts"] - (row["latency_ms"] or 0) / 1000
            low, high = spans.get(endpoint, (start, row["ts"]))
            spans[endpoint] = (min(low, start), max(high, row["ts"]))
            tokens[endpoint] = tokens.get(endpoint, 0) + row["tokens"]
        for endpoint, (low, high) in spans.items():
            wall[endpoint] = high - low
        rates = self.cost.gpu_rates(wall, tokens)
        if not rates:
            return
        for case in cases:
            rate = rates.get(case.endpoint)
            if rate is not None:
                case.cost_usd = (case.cost_usd or 0.0) + rate * (case.total_tokens + case.judge_tokens)
        costs = {row["id"]: rates[row["endpoint"]] * row["tokens"] for row in rows if row["endpoint"] in rates}
        self.ledger.set_run_costs(self.run_id, costs)


def _cache_path(value: str | None, rootdir: Path) -> Path:
    path = Path(value) if value else rootdir / ".helm-eval" / "cache.sqlite"
    return path if path.is_absolute() else rootdir / path


def _reserve(estimate: Estimate | None) -> int:
    assert estimate is not None, "admission needs an estimate for every call"
    return estimate.reserve()
