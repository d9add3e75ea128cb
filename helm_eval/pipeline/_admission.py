"""Admission: estimate each call's prompt, then reserve under the budget, highest priority first.

A call reserves ``estimated prompt tokens + max_tokens`` (and their price) before it is sent; a call the cache
will answer reserves nothing. The decision for a batch is one ledger transaction, so concurrent runs of one pull
request can never both take the last tokens. In a dry run the same decisions are made and rolled back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from helm_eval._records import Call, Case
from helm_eval.config import ConfigError
from helm_eval.dispatch import Endpoint
from helm_eval.ledger import DEFAULT_MAX_TOKENS, Budget, CallNeed, CaseNeed, CostModel, Denial
from helm_eval.pipeline._responses import Responses
from helm_eval.plan import Estimate

Estimator = Callable[[list[Call]], list[Estimate]]
"""Prompt-token estimates for calls, in order."""

Decision = list[Call] | Denial
"""Per case: its calls, ready to send (estimates, reservations, cache keys attached), or why it was cut."""


@dataclasses.dataclass(slots=True)
class Admission:
    """Turns planned calls into calls ready to send, or denials, under the run's budget (if any)."""

    budget: Budget | None
    cost: CostModel
    responses: Responses
    estimate: Estimator
    owner: Callable[[Case], str | None]
    endpoint_of: Callable[[Call], Endpoint]
    estimated: list[tuple[Call, Estimate]] = dataclasses.field(default_factory=list)
    """Each estimated call with its estimate, in order (a dry run's figures); kept only when ``keep_estimates``."""
    keep_estimates: bool = False
    fallbacks: Callable[[Call], list[Call]] = lambda call: []
    """The call as each fallback of its endpoint would be sent it (failover), for the reservation to cover."""

    def admit(self, planned: Sequence[tuple[Case, list[Call]]], *, dry_run: bool = False) -> list[Decision]:
        """Decide every case of ``planned``; the result is in the given order, admission in priority order."""
        calls = [call for _, case_calls in planned for call in case_calls]
        # estimates serve admission; without a budget they would only delay the first call
        estimating = (self.budget is not None or dry_run) and bool(calls)
        estimates = self.estimate(calls) if estimating else []
        by_call: dict[int, Estimate] = dict(zip(map(id, calls), estimates, strict=False))
        keyed: list[Call] = []
        for case, case_calls in planned:
            owner = self.owner(case)
            for call in case_calls:
                estimate = by_call.get(id(call))
                sent = call
                if self.budget is not None and call.params.get("max_tokens") is None:
                    # a budget needs a bound on completions (and the key must be that of the call as sent)
                    sent = dataclasses.replace(call, params={**call.params, "max_tokens": DEFAULT_MAX_TOKENS})
                keyed.append(
                    dataclasses.replace(
                        sent,
                        estimated_prompt_tokens=estimate.tokens if estimate else None,
                        owner=owner,
                        suite=case.suite_file,
                        cache_key=self.responses.key(sent, self.endpoint_of(call)),
                    )
                )
        self.responses.look_up(keyed)  # one cache look-up for the batch
        ready_calls = iter(keyed)
        prepared: list[list[Call]] = []
        needs: list[CaseNeed] = []
        for case, case_calls in planned:
            ready = [next(ready_calls) for _ in case_calls]
            prepared.append(ready)
            if self.keep_estimates:
                self.estimated.extend(
                    (ready_call, by_call[id(call)])
                    for call, ready_call in zip(case_calls, ready, strict=True)
                    if id(call) in by_call
                )
            if estimating:
                call_needs = [self.need(r, by_call.get(id(c))) for c, r in zip(case_calls, ready, strict=True)]
                needs.append(CaseNeed(case.suite_file, case.id, tuple(call_needs)))
        if self.budget is None:
            return list(prepared)
        order = sorted(range(len(planned)), key=lambda i: -planned[i][0].priority)
        decisions = self.budget.admit([needs[i] for i in order], dry_run=dry_run)
        result: list[Decision] = list(prepared)
        for index, decision in zip(order, decisions, strict=True):
            if isinstance(decision, Denial):
                result[index] = decision
            else:
                result[index] = [
                    dataclasses.replace(c, reservation=r) for c, r in zip(prepared[index], decision, strict=True)
                ]
        return result

    def need(self, call: Call, estimate: Estimate | None) -> CallNeed:
        """What ``call`` reserves: nothing when the cache answers it, else its prompt estimate plus max_tokens.

        With failover the reservation must hold whichever endpoint answers: its USD is the dearest of the chain
        (every one must be priced under a USD cap), and when a fallback serves another model the prompt count,
        exact only for the routed model's tokenizer, is reserved with the margin of an estimate.
        """
        if self.responses.hit(call) is not None:
            return CallNeed(call.model, call.endpoint, 0, 0.0)
        chain = [call, *self.fallbacks(call)] if self.budget is not None else [call]
        prompt = 0
        if estimate is not None:
            other_tokenizer = any(leg.model != call.model for leg in chain)
            prompt = (estimate._replace(method="tiktoken") if other_tokenizer else estimate).reserve()
        max_tokens = int(call.params.get("max_tokens") or DEFAULT_MAX_TOKENS)
        costs = [self.cost.token_cost(leg.endpoint, leg.model, prompt, max_tokens) for leg in chain]
        usd_cap = next((c for c in self.budget.plan.caps if c.unit == "usd"), None) if self.budget else None
        for leg, usd in zip(chain, costs, strict=True):
            if usd is None and usd_cap is not None:
                raise ConfigError(
                    f"a USD budget (from {usd_cap.source}) cannot price model {leg.model!r} on endpoint "
                    f"{leg.endpoint!r}: add its price to the policy's prices (a project's own prices do not count "
                    "under a policy)"
                )
        return CallNeed(call.model, call.endpoint, prompt + max_tokens, max((c or 0.0 for c in costs), default=0.0))
