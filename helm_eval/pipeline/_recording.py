"""The record stage: every finished call becomes a ledger row (tokens, cost, latency, labels), off the loop.

The dispatch loop only hands finished calls to the ledger writer's queue; its thread turns them into rows,
settles their reservations, and stores fresh answers in the response cache. At the end of the run the
GPU-hour cost of self-hosted endpoints is shared over the calls by token share.
"""

from __future__ import annotations

from collections.abc import Sequence

from helm_eval._records import Call, CaseResult, Outcome
from helm_eval.ledger import DEFAULT_MAX_TOKENS, CallRow, CostModel, Finished, Ledger, LedgerWriter
from helm_eval.pipeline._redaction import Redactor
from helm_eval.pipeline._responses import Responses


class Recorder:
    """Queues finished calls for the ledger, prices them, and shares GPU cost at the end."""

    def __init__(
        self,
        ledger: Ledger,
        run_id: str,
        labels: dict[str, str | None],
        cost: CostModel,
        responses: Responses,
        keys: Redactor,
    ) -> None:
        self.ledger = ledger
        self.run_id = run_id
        self.labels = labels
        self.cost = cost
        self.writer = LedgerWriter(
            ledger.url, self._row, also=lambda items: responses.store_all([(i.call, i.outcome) for i in items], keys)
        )
        self._responses = responses
        self._closed = False

    def finished(self, call: Call, outcome: Outcome | None, sent: bool, started: float, ended: float) -> None:
        """Dispatcher callback (loop thread): queue the call for the ledger (GPU spans come from its rows)."""
        self.writer.put(Finished(call, outcome, sent, started, ended))

    def _row(self, item: Finished) -> CallRow:
        call, outcome = item.call, item.outcome
        reserved_prompt = call.estimated_prompt_tokens or 0
        max_tokens = int(call.params.get("max_tokens") or DEFAULT_MAX_TOKENS)
        if outcome is None:
            # cancelled in flight: the server may have generated, so charge the whole reservation rather than
            # let a budget be exceeded unseen
            prompt, completion, status = reserved_prompt, max_tokens, "unknown-usage"
        else:
            # what the server reported for the answer, plus the whole reservation for each attempt abandoned
            # after it went out (it may have been generated); an error the server answered, or a connection it
            # refused, cost nothing
            prompt, completion = outcome.prompt_tokens or 0, outcome.completion_tokens or 0
            prompt += outcome.unsettled_attempts * reserved_prompt
            completion += outcome.unsettled_attempts * max_tokens
            if outcome.error is not None:
                status = "error"
            elif outcome.unsettled_attempts or outcome.prompt_tokens is None or outcome.completion_tokens is None:
                status = "unknown-usage"
            else:
                status = "ok"
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
            status=status,
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
        """Flush the ledger writer (and cache writes); returns their warnings, once."""
        if self._closed:
            return []
        self._closed = True
        self.writer.close()
        return [*self.writer.errors, *self._responses.errors()]

    def share_gpu_cost(self, cases: list[CaseResult]) -> None:
        """Add each case's share of the endpoints' GPU-hours (by tokens) to its cost and to the ledger rows."""
        if not self.cost.gpu_hourly_usd:
            return
        rows = self.ledger.calls(run_id=self.run_id)
        tokens: dict[str, int] = {}
        spans: dict[str, tuple[float, float]] = {}
        for row in rows:
            endpoint = row["endpoint"]
            start = row["ts"] - (row["latency_ms"] or 0) / 1000
            low, high = spans.get(endpoint, (start, row["ts"]))
            spans[endpoint] = (min(low, start), max(high, row["ts"]))
            tokens[endpoint] = tokens.get(endpoint, 0) + row["tokens"]
        wall = {endpoint: high - low for endpoint, (low, high) in spans.items()}
        rates = self.cost.gpu_rates(wall, tokens)
        if not rates:
            return
        for case in cases:
            rate = rates.get(case.endpoint)
            if rate is not None:
                case.cost_usd = (case.cost_usd or 0.0) + rate * (case.total_tokens + case.judge_tokens)
        costs = {row["id"]: rates[row["endpoint"]] * row["tokens"] for row in rows if row["endpoint"] in rates}
        self.ledger.set_run_costs(self.run_id, costs)
