"""Merging the run records of a sharded job matrix into one, for a single summary and PR comment."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from helm_eval._records import BudgetSummary, CaseResult, RunRecord
from helm_eval.report._merge_baseline import merge_baselines


def merge_records(records: Sequence[RunRecord]) -> RunRecord:
    """One run record from several shards.

    Cases are concatenated (a node id seen twice keeps the last shard's result, e.g. a re-run shard); labels keep
    the keys whose value all shards agree on; endpoints are united; the time span covers every shard. Budgets:
    caps are taken from the shard that saw the least remaining (shards share the PR's ledger, so that is the most
    recent view), cut counts and denials are summed. The baseline comparison is kept, recomputed over all cases,
    when every shard was compared with the same base run; when they differ it is marked not found, with why
    (``merge_baselines``).
    """
    if not records:
        raise ValueError("no run records to merge")
    if len(records) == 1:
        return records[0]
    cases: dict[str, CaseResult] = {}
    for record in records:
        for case in record.cases:
            cases.pop(case.nodeid, None)
            cases[case.nodeid] = dataclasses.replace(case)  # the merged record's own: its baseline may clear fields
    labels = dict(records[0].labels)
    for record in records[1:]:
        labels = {k: v for k, v in labels.items() if record.labels.get(k) == v}
    endpoints: dict[str, dict[str, str]] = {}
    for record in records:
        endpoints.update(record.endpoints)
    started = [r.started_at for r in records if r.started_at]
    merged = list(cases.values())
    return RunRecord(
        cases=merged,
        labels=labels,
        endpoints=endpoints,
        started_at=min(started) if started else 0.0,
        finished_at=max(r.finished_at for r in records),
        budget=_merge_budgets([r.budget for r in records if r.budget is not None]),
        baseline=merge_baselines(records, merged),
    )


def _merge_budgets(budgets: list[BudgetSummary]) -> BudgetSummary | None:
    """One summary for shards: the binding caps of the shard with the least left, cuts summed."""
    if not budgets:
        return None

    def remaining(budget: BudgetSummary) -> float:
        cap = budget.binding("tokens")
        return cap.remaining if cap is not None and cap.remaining is not None else float("inf")

    tightest = min(budgets, key=remaining)
    return BudgetSummary(
        caps=list(tightest.caps),
        cut=sum(b.cut for b in budgets),
        action="fail" if any(b.action == "fail" for b in budgets) else "warn",
        denials=[d for b in budgets for d in b.denials][:50],
    )
