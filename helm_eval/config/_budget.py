"""Budget, price and policy models: what a run may spend and what tokens cost."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from helm_eval.config._gate import GateSpec
from helm_eval.config._suite import _Strict

BudgetScope = Literal["run", "pull_request", "suite", "case"]
SCOPES: tuple[BudgetScope, ...] = ("run", "pull_request", "suite", "case")


class Limit(_Strict):
    """A cap in tokens and/or US dollars; unset means no cap in that unit."""

    tokens: int | None = Field(default=None, ge=0)
    """Most prompt + completion tokens."""
    usd: float | None = Field(default=None, ge=0)
    """Most US dollars (token-priced endpoints; GPU-hour cost is known only after the run)."""


class BudgetSpec(_Strict):
    """Caps per scope. The binding value for each is the lowest of the trusted policy and this config."""

    run: Limit | None = None
    """This pytest session."""
    pull_request: Limit | None = None
    """Every run labelled with the same repo and pull/merge request number, cumulative over pushes."""
    suite: Limit | None = None
    """Each suite file, within one run."""
    case: Limit | None = None
    """Each case (all its repeats), within one run."""
    on_exhausted: Literal["fail", "warn"] | None = None
    """What cut cases do to the check: ``fail`` turns it red, ``warn`` reports and stays green (default fail)."""


class Price(_Strict):
    """Per-token prices of a hosted model."""

    input_usd_per_1m: float = Field(ge=0)
    """USD per million prompt tokens."""
    output_usd_per_1m: float = Field(ge=0)
    """USD per million completion tokens."""


class PolicyConfig(_Strict):
    """A trusted policy (workflow input or base-branch file): budgets a pull request's own config cannot raise."""

    budget: BudgetSpec = Field(default_factory=BudgetSpec)
    """Caps that bind; a PR's ``helm-eval.yaml`` may only lower them."""
    gate: GateSpec = Field(default_factory=GateSpec)
    """When the check is red; a PR's ``gate:`` may only add reasons to be red."""
    baseline: str | None = None
    """Run record of the base branch to compare with (a trusted baseline, like ``--helm-eval-baseline``)."""
    prices: dict[str, Price] = Field(default_factory=dict)
    """Model name → price. Under a policy these are the only token prices: a USD cap needs one for every model."""
    ledger: str | None = None
    """Where spend is recorded (SQLite path or ``postgresql://`` URL); under a policy the project's ``ledger`` is
    ignored, so a pull request cannot start its count from zero."""
