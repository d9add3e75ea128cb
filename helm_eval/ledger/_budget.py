"""Budgets: which caps bind (trusted policy, command line, config), and admission that holds under concurrency.

Before a case is sent, each of its calls reserves ``estimated prompt tokens + max_tokens`` (and the matching
USD at per-token prices) in the ledger, inside one exclusive transaction per batch; after a call, the
reservation is replaced by what the server reported. A case that does not fit is not sent and is reported as
skipped with the scope, need and remainder — never as failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from helm_eval._records import BudgetSummary, CapUse
from helm_eval.config import SCOPES, BudgetScope, BudgetSpec, Limit
from helm_eval.ledger._store import Ledger, Scope

DEFAULT_MAX_TOKENS = 256
"""What a call without ``max_tokens`` is sent with under a budget: a cap needs a bound on completions."""

SCOPE_WORDS = {"run": "this run", "pull_request": "pull request", "suite": "suite", "case": "case"}


@dataclass(frozen=True, slots=True)
class Cap:
    """One binding cap: scope, unit, value and where it came from."""

    scope: BudgetScope
    unit: str
    """``tokens`` or ``usd``."""
    limit: float
    source: str
    """E.g. ``policy .github/helm-eval-policy.yaml``, ``--helm-eval-budget-tokens``, ``helm-eval.yaml``."""


@dataclass(slots=True)
class BudgetPlan:
    """The caps that bind for a run and what an exhausted budget does to the check."""

    caps: list[Cap] = field(default_factory=list)
    on_exhausted: str = "fail"
    on_exhausted_source: str = "default"

    @property
    def active(self) -> bool:
        """True when any cap applies."""
        return bool(self.caps)

    def cap(self, scope: BudgetScope, unit: str) -> Cap | None:
        """The binding cap for ``scope`` and ``unit``, if any."""
        return next((c for c in self.caps if c.scope == scope and c.unit == unit), None)


def bind(trusted: Sequence[tuple[BudgetSpec, str]], config: BudgetSpec, config_source: str) -> BudgetPlan:
    """Combine budgets: trusted ones (policy file, command line) bind; the project config may only lower them.

    For every scope and unit the lowest trusted value is the ceiling; a lower config value wins, a higher one
    is ignored. ``on_exhausted`` from a trusted source wins; with any trusted source in force the config may
    only make it stricter (``fail``), never turn a cut run green.
    """
    plan = BudgetPlan()
    for scope in SCOPES:
        for unit in ("tokens", "usd"):
            best: tuple[float, str] | None = None
            for spec, source in trusted:
                value = _value(spec, scope, unit)
                if value is not None and (best is None or value < best[0]):
                    best = (value, source)
            own = _value(config, scope, unit)
            if own is not None and (best is None or own < best[0]):
                best = (own, config_source)
            if best is not None:
                plan.caps.append(Cap(scope, unit, best[0], best[1]))
    for spec, source in trusted:
        if spec.on_exhausted is not None:
            plan.on_exhausted, plan.on_exhausted_source = spec.on_exhausted, source
            break
    else:
        if config.on_exhausted is not None and (not trusted or config.on_exhausted == "fail"):
            plan.on_exhausted, plan.on_exhausted_source = config.on_exhausted, config_source
    return plan


def _value(spec: BudgetSpec, scope: BudgetScope, unit: str) -> float | None:
    limit: Limit | None = getattr(spec, scope)
    return None if limit is None else getattr(limit, unit)


@dataclass(frozen=True, slots=True)
class Denial:
    """Why a case was not admitted: structured, and printable as one sentence."""

    scope: BudgetScope
    unit: str
    needed: float
    used: float
    limit: float
    source: str
    where: str

    def __str__(self) -> str:
        remaining = max(0.0, self.limit - self.used)
        if self.unit == "tokens":
            amounts = f"needs {self.needed:,.0f} tokens, {remaining:,.0f} of {self.limit:,.0f} remaining"
        else:
            amounts = f"needs ${self.needed:.4f}, ${remaining:.4f} of ${self.limit:.4f} remaining"
        return f"{self.unit} budget for {self.where} exhausted: {amounts} (limit from {self.source})"


class _DryRun(Exception):
    """Raised inside the admission transaction to roll it back, carrying the decisions."""

    def __init__(self, results: list[list[int] | Denial]) -> None:
        super().__init__("dry run")
        self.results = results


@dataclass(frozen=True, slots=True)
class CallNeed:
    """What one call of a case reserves."""

    model: str
    endpoint: str
    tokens: int
    usd: float


@dataclass(frozen=True, slots=True)
class CaseNeed:
    """What a case asks to reserve: one entry per call (repeat)."""

    suite: str | None
    case_id: str
    calls: tuple[CallNeed, ...]


class Budget:
    """Admission against the binding caps, with the ledger holding usage and reservations for all processes."""

    def __init__(self, plan: BudgetPlan, ledger: Ledger, run_id: str, labels: dict[str, str | None]) -> None:
        self.plan = plan
        self.ledger = ledger
        self.run_id = run_id
        self.labels = labels
        self.denials: list[Denial] = []

    def scope(self, scope: BudgetScope, suite: str | None, case_id: str | None) -> tuple[Scope, str]:
        """The ledger filter for ``scope`` and a human name for messages."""
        pr, repo = self.labels.get("pr"), self.labels.get("repo")
        if scope == "pull_request" and pr:
            return Scope(scope, "repo IS ? AND pr = ?", (repo, pr)), f"pull request {pr}"
        if scope == "suite":
            return Scope(scope, "run_id = ? AND suite IS ?", (self.run_id, suite)), f"suite {suite}"
        if scope == "case":
            name = f"{suite}::{case_id}" if suite else str(case_id)
            return Scope(
                scope, "run_id = ? AND suite IS ? AND case_id = ?", (self.run_id, suite, case_id)
            ), f"case {name}"
        # a run outside any pull request: the pull-request cap applies to the run itself
        return Scope(scope, "run_id = ?", (self.run_id,)), SCOPE_WORDS["run"]

    def admit(self, needs: Sequence[CaseNeed], *, dry_run: bool = False) -> list[list[int] | Denial]:
        """Reserve for each case in order (sort by priority first); per case: reservation ids, or a ``Denial``.

        One exclusive transaction for the batch, so concurrent runs of the same pull request (other jobs,
        xdist workers) can never both take the last tokens. ``dry_run`` decides the same way and rolls back
        (``helm-eval plan``).
        """
        try:
            return self._admit(needs, dry_run)
        except _DryRun as done:
            return done.results

    def _admit(self, needs: Sequence[CaseNeed], dry_run: bool) -> list[list[int] | Denial]:
        results: list[list[int] | Denial] = []
        used: dict[tuple[str, tuple[object, ...]], tuple[float, float]] = {}
        with self.ledger.transaction():
            for need in needs:
                verdict = self._check(need, used)
                if isinstance(verdict, Denial):
                    self.denials.append(verdict)
                    results.append(verdict)
                    continue
                ids = [
                    self.ledger.reserve(
                        self.run_id, self.labels, need.suite, need.case_id, c.model, c.endpoint, c.tokens, c.usd
                    )
                    for c in need.calls
                ]
                for key, (tokens, usd) in verdict.items():
                    used[key] = (tokens + sum(c.tokens for c in need.calls), usd + sum(c.usd for c in need.calls))
                results.append(ids)
            if dry_run:
                raise _DryRun(results)
        return results

    def _check(
        self, need: CaseNeed, used: dict[tuple[str, tuple[object, ...]], tuple[float, float]]
    ) -> dict[tuple[str, tuple[object, ...]], tuple[float, float]] | Denial:
        tokens = sum(c.tokens for c in need.calls)
        usd = sum(c.usd for c in need.calls)
        seen: dict[tuple[str, tuple[object, ...]], tuple[float, float]] = {}
        for cap in self.plan.caps:
            scope, where = self.scope(cap.scope, need.suite, need.case_id)
            key = (scope.where, scope.params)
            if key not in used:
                used[key] = self.ledger.used(scope)
            current = used[key]
            seen[key] = current
            have = current[0] if cap.unit == "tokens" else current[1]
            want = tokens if cap.unit == "tokens" else usd
            if have + want > cap.limit + 1e-12:
                return Denial(cap.scope, cap.unit, want, have, cap.limit, cap.source, where)
        return seen

    def summary(self) -> BudgetSummary:
        """Budget state for the run record: binding caps with use and remainder, what was cut, the action."""
        caps = []
        for cap in self.plan.caps:
            if cap.scope in ("suite", "case"):
                caps.append(CapUse(cap.scope, cap.unit, cap.limit, cap.source))
                continue
            scope, where = self.scope(cap.scope, None, None)
            tokens, usd = self.ledger.used(scope)
            spent = tokens if cap.unit == "tokens" else usd
            caps.append(CapUse(cap.scope, cap.unit, cap.limit, cap.source, where, spent, max(0.0, cap.limit - spent)))
        action: Literal["fail", "warn"] = "warn" if self.plan.on_exhausted == "warn" else "fail"
        return BudgetSummary(caps, len(self.denials), action, [str(d) for d in self.denials[:50]])
