"""helm-eval: evaluation suites and guardrails for LLMs, run by pytest in CI.

The public API is what ``__all__`` lists; everything else lives in private modules and may change. Names are
imported when first used, so loading the pytest plugin without ``--helm-eval`` imports nothing heavy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_WHERE = {
    "Assertion": "helm_eval._records",
    "Call": "helm_eval._records",
    "Case": "helm_eval._records",
    "CaseResult": "helm_eval._records",
    "Outcome": "helm_eval._records",
    "RunRecord": "helm_eval._records",
    "Verdict": "helm_eval._records",
    "BudgetSummary": "helm_eval._records",
    "CapUse": "helm_eval._records",
    "HelmEvalError": "helm_eval._errors",
    "Pipeline": "helm_eval.pipeline",
    "RunSettings": "helm_eval.pipeline",
    "assert_check": "helm_eval.checks",
    "check": "helm_eval.checks",
    "register_check": "helm_eval.checks",
}

if TYPE_CHECKING:
    from helm_eval._errors import HelmEvalError
    from helm_eval._records import Assertion, BudgetSummary, Call, CapUse, Case, CaseResult, Outcome, RunRecord, Verdict
    from helm_eval.checks import assert_check, check
    from helm_eval.checks import register as register_check
    from helm_eval.pipeline import Pipeline, RunSettings

__all__ = [
    "Assertion",
    "BudgetSummary",
    "Call",
    "CapUse",
    "Case",
    "CaseResult",
    "HelmEvalError",
    "Outcome",
    "Pipeline",
    "RunRecord",
    "RunSettings",
    "Verdict",
    "__version__",
    "assert_check",
    "check",
    "register_check",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'helm_eval' has no attribute {name!r}")
    value = getattr(import_module(module), "register" if name == "register_check" else name)
    globals()[name] = value
    return value
