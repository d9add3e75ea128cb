"""The pytest side of a run: nodes, the session object, fixtures."""

from helm_eval.run._fixtures import HelmModel, ModelCallError, make_helm_model
from helm_eval.run._items import RUN_KEY, CaseCallError, CaseFailed, CaseItem, SuiteFile
from helm_eval.run._session import HelmEvalRun
from helm_eval.run._settings import Settings

__all__ = [
    "RUN_KEY",
    "CaseCallError",
    "CaseFailed",
    "CaseItem",
    "HelmEvalRun",
    "HelmModel",
    "ModelCallError",
    "Settings",
    "SuiteFile",
    "make_helm_model",
]
