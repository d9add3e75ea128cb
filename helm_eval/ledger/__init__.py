"""Usage and cost records: the ledger store, attribution labels, and the cost model."""

from helm_eval.ledger._budget import DEFAULT_MAX_TOKENS, Budget, BudgetPlan, CallNeed, Cap, CaseNeed, Denial, bind
from helm_eval.ledger._cost import CostModel
from helm_eval.ledger._history import HISTORY_RUNS, CaseHistory, case_history, flaky_cases, record_outcomes
from helm_eval.ledger._labels import LABEL_NAMES, CodeOwners, ci_labels, parse_label_options
from helm_eval.ledger._policy import (
    ENV_POLICY,
    budget_plan,
    cli_budget,
    cost_model,
    ledger_url,
    load_policy,
    trusted_ledger,
)
from helm_eval.ledger._store import LEDGER_VERSION, CallRow, Ledger, Scope
from helm_eval.ledger._store import redact as redact_url
from helm_eval.ledger._writer import Finished, LedgerWriter

__all__ = [
    "DEFAULT_MAX_TOKENS",
    "ENV_POLICY",
    "HISTORY_RUNS",
    "LABEL_NAMES",
    "LEDGER_VERSION",
    "Budget",
    "BudgetPlan",
    "CallNeed",
    "CallRow",
    "Cap",
    "CaseHistory",
    "CaseNeed",
    "CodeOwners",
    "CostModel",
    "Denial",
    "Finished",
    "Ledger",
    "LedgerWriter",
    "Scope",
    "bind",
    "budget_plan",
    "case_history",
    "ci_labels",
    "cli_budget",
    "cost_model",
    "flaky_cases",
    "ledger_url",
    "load_policy",
    "parse_label_options",
    "record_outcomes",
    "redact_url",
    "trusted_ledger",
]
