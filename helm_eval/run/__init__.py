"""The pytest adapter: suite nodes, the ``helm_model`` fixture, settings from options, the session's hooks."""

from helm_eval.run._fixtures import HelmModel, ModelCallError, make_helm_model
from helm_eval.run._hooks import HelmEvalSession
from helm_eval.run._items import CaseCallError, CaseFailed, CaseItem, SuiteFile
from helm_eval.run._keys import SESSION_KEY
from helm_eval.run._settings import settings_from_pytest

__all__ = [
    "SESSION_KEY",
    "CaseCallError",
    "CaseFailed",
    "CaseItem",
    "HelmEvalSession",
    "HelmModel",
    "ModelCallError",
    "SuiteFile",
    "make_helm_model",
    "settings_from_pytest",
]
