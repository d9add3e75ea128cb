"""Checks applied to model outputs: one registry, one module per family."""

from helm_eval.checks import _structured, _text  # noqa: F401 - registers the built-in checks
from helm_eval.checks._registry import (
    REGISTRY,
    CheckInput,
    CheckOutput,
    CheckType,
    parse_type,
    register,
    run_check,
    validate_assertion,
)

__all__ = [
    "REGISTRY",
    "CheckInput",
    "CheckOutput",
    "CheckType",
    "parse_type",
    "register",
    "run_check",
    "validate_assertion",
]
