"""Usage and cost records: the ledger store, attribution labels, and the cost model."""

from helm_eval.ledger._budget import Budget, BudgetPlan, CallNeed, Cap, CaseNeed, Denial, bind
from helm_eval.ledger._cost import CostModel
from helm_eval.ledger._labels import LABEL_NAMES, CodeOwners, ci_labels, parse_label_options
from helm_eval.ledger._store import LEDGER_VERSION, CallRow, Ledger, Scope

__all__ = [
    "LABEL_NAMES",
    "LEDGER_VERSION",
    "Budget",
    "BudgetPlan",
    "CallNeed",
    "CallRow",
    "Cap",
    "CaseNeed",
    "CodeOwners",
    "CostModel",
    "Denial",
    "Ledger",
    "Scope",
    "bind",
    "ci_labels",
    "parse_label_options",
]
