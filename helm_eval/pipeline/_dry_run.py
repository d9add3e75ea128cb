"""The dry run (``helm-eval plan``): the pipeline's routing, estimates and admission, with nothing sent.

Per suite and model: cases, calls, estimated prompt tokens, the completion bound, what a run would reserve and
cost, and which cases the budget would admit or cut. Admission is decided in the ledger exactly as a run decides
it (including what the pull request already spent) and rolled back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from helm_eval._records import Call, Case
from helm_eval.config import ConfigError, EndpointError
from helm_eval.dispatch import Endpoint
from helm_eval.ledger import DEFAULT_MAX_TOKENS, Cap, Denial
from helm_eval.pipeline._admission import Admission
from helm_eval.pipeline._pipeline import Pipeline
from helm_eval.plan import Estimate, Planner


@dataclass(slots=True)
class SuitePlan:
    """One suite × model of a dry run."""

    suite: str
    model: str
    cases: int = 0
    calls: int = 0
    prompt_tokens: int = 0
    """Estimated prompt tokens (exact with ``/tokenize``)."""
    max_completion_tokens: int = 0
    reserved_tokens: int = 0
    """What the admitted cases would reserve (prompt estimate with its margin + max_tokens)."""
    cost_usd: float = 0.0
    admitted: int = 0
    cut: int = 0


@dataclass(slots=True)
class Plan:
    """What a run would do; ``fits`` is False when the budget would cut cases."""

    suites: list[SuitePlan] = field(default_factory=list)
    methods: list[str] = field(default_factory=list)
    """How prompts were counted: ``tokenize`` (exact), ``tiktoken``, ``chars``."""
    caps: list[Cap] = field(default_factory=list)
    cut: list[tuple[Case, Denial]] = field(default_factory=list)

    @property
    def fits(self) -> bool:
        """True when every case would be admitted."""
        return not self.cut

    def to_json(self) -> dict[str, object]:
        """The ``--format json`` shape of ``helm-eval plan``."""
        return {
            "suites": [
                {f: getattr(s, f) for f in SuitePlan.__dataclass_fields__} | {"cost_usd": round(s.cost_usd, 6)}
                for s in self.suites
            ],
            "estimates": self.methods,
            "budget": [{"scope": c.scope, "unit": c.unit, "limit": c.limit, "source": c.source} for c in self.caps],
            "fits": self.fits,
            "cut": [{"case": f"{c.file}::{c.id}", "line": c.line, "reason": str(d)} for c, d in self.cut],
        }


def plan_cases(pipeline: Pipeline, cases: Sequence[Case]) -> Plan:
    """Route, estimate and admit ``cases`` as a run would, rolling the admission back."""
    try:
        endpoints = pipeline.endpoints
    except ConfigError:
        # no endpoint anywhere: plan with offline estimates against a placeholder
        model = pipeline.settings.overrides.model
        endpoints = {"default": Endpoint("default", "", model, None, 1, 1.0)}
        pipeline.use_endpoints(endpoints, Planner(endpoints, "default"))
        pipeline.offline = True
    if not pipeline.offline:
        try:
            pipeline.dispatcher()  # discovers each endpoint's model, as a run does at start
        except EndpointError:
            pipeline.offline = True
    for endpoint in endpoints.values():
        endpoint.model = endpoint.model or "default"
    planned = [(case, pipeline.planner.calls(case)) for case in cases]
    admission = pipeline.admission
    admission.keep_estimates = True
    decisions = admission.admit(planned, dry_run=True)
    estimates = iter(admission.estimated)
    rows: dict[tuple[str, str], SuitePlan] = {}
    methods: set[str] = set()
    plan = Plan(caps=list(pipeline.budget_plan.caps))
    followups = _followup_estimates(admission, planned)
    for (case, calls), decision in zip(planned, decisions, strict=True):
        model = calls[0].model if calls else "-"
        row = rows.setdefault((case.suite_file, model), SuitePlan(case.suite_file, model))
        row.cases += 1
        if isinstance(decision, Denial):
            row.cut += 1
            plan.cut.append((case, decision))
        else:
            row.admitted += 1
        for _ in calls:
            call, estimate = next(estimates)
            max_tokens = int(call.params.get("max_tokens") or DEFAULT_MAX_TOKENS)
            later = dataclasses.replace(call, cache_key=None)  # a later turn's history is new: no cached answer
            for turn, turn_estimate in enumerate(_turn_estimates(estimate, max_tokens, followups.get(id(case), []))):
                methods.add(turn_estimate.method)
                row.calls += 1
                row.prompt_tokens += turn_estimate.tokens
                row.max_completion_tokens += max_tokens
                row.cost_usd += pipeline.cost.token_cost(call.endpoint, call.model, turn_estimate.tokens,
                                                         max_tokens) or 0.0  # fmt: skip
                # a later turn is admitted when it is sent: counted as reserved when its case's first turn is
                if not isinstance(decision, Denial):
                    row.reserved_tokens += admission.need(call if turn == 0 else later, turn_estimate).tokens
    plan.suites = [rows[key] for key in sorted(rows)]
    plan.methods = sorted(methods)
    return plan


def _followup_estimates(admission: Admission, planned: Sequence[tuple[Case, list[Call]]]) -> dict[int, list[Estimate]]:
    """Per conversation case (by ``id``), the estimate of each follow-up message, all counted in one batch."""
    owners: list[int] = []
    calls: list[Call] = []
    for case, case_calls in planned:
        for text in case.followups if case_calls else ():
            owners.append(id(case))
            calls.append(dataclasses.replace(case_calls[0], messages=({"role": "user", "content": text},)))
    found: dict[int, list[Estimate]] = {}
    for owner, estimate in zip(owners, admission.estimate(calls) if calls else [], strict=True):
        found.setdefault(owner, []).append(estimate)
    return found


def _turn_estimates(first: Estimate, max_tokens: int, followups: Sequence[Estimate]) -> list[Estimate]:
    """The prompt estimate of each turn of one run: the first as planned, then each later one.

    A later turn's prompt is the history so far, and the answers in it are not known before the run: each is
    counted at its bound, ``max_tokens``, with the follow-up message's own estimate added.
    """
    turns, tokens = [first], first.tokens
    for followup in followups:
        tokens += max_tokens + followup.tokens
        turns.append(Estimate(tokens, followup.method if first.exact else first.method))
    return turns
