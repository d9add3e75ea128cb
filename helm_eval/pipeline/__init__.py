"""The pipeline: Case → plan → dispatch → verdict → record, as a library that knows nothing of pytest.

pytest (``helm_eval.run``) is one adapter; ``helm-eval plan`` is the same pipeline as a dry run; a script can
drive it too (see ``Pipeline``).
"""

from helm_eval.pipeline._admission import Admission, Decision
from helm_eval.pipeline._dry_run import Plan, SuitePlan, plan_cases
from helm_eval.pipeline._evaluation import OUTPUT_EXCERPT, Evaluation, Gathered, case_key
from helm_eval.pipeline._pipeline import Pipeline
from helm_eval.pipeline._recording import Recorder
from helm_eval.pipeline._responses import ENV_RESPONSE_CACHE, Responses, cache_path
from helm_eval.pipeline._settings import BudgetOptions, RunSettings
from helm_eval.pipeline._verdict import CaseJudge, CaseVerdict, judge_case, judged_verdict, majority

__all__ = [
    "ENV_RESPONSE_CACHE",
    "OUTPUT_EXCERPT",
    "Admission",
    "BudgetOptions",
    "CaseJudge",
    "CaseVerdict",
    "Decision",
    "Evaluation",
    "Gathered",
    "Pipeline",
    "Plan",
    "Recorder",
    "Responses",
    "RunSettings",
    "SuitePlan",
    "cache_path",
    "case_key",
    "judge_case",
    "judged_verdict",
    "majority",
    "plan_cases",
]
