"""The configuration errors, re-exported from the one error tree (``helm_eval._errors``)."""

from helm_eval._errors import ConfigError, HelmEvalError, SuiteError

__all__ = ["ConfigError", "HelmEvalError", "SuiteError"]
