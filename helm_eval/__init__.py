"""helm-eval: evaluation suites and guardrails for LLMs, run by pytest in CI.

The public API is what ``__all__`` lists; everything else lives in private modules and may change.
"""

from helm_eval._records import Assertion, Call, Case, CaseResult, Outcome, RunRecord, Verdict
from helm_eval.checks import register as register_check
from helm_eval.checks._api import assert_check, check

__version__ = "0.1.0"

__all__ = [
    "Assertion",
    "Call",
    "Case",
    "CaseResult",
    "Outcome",
    "RunRecord",
    "Verdict",
    "__version__",
    "assert_check",
    "check",
    "register_check",
]
