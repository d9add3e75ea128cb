"""Checks applied to model outputs: one registry, one module per family."""

from helm_eval.checks import (  # noqa: F401 - registers
    _cost,
    _injection,
    _judges,
    _pii,
    _reference,
    _refusal,
    _secrets,
    _sets,
    _shape,
    _similar,
    _structured,
    _text,
    _tools,
)
from helm_eval.checks._api import assert_check, check
from helm_eval.checks._findings import Finding, redact
from helm_eval.checks._inputs import ALLOWANCES, InputBlocked, scan_inputs, scan_texts, unknown_allowances
from helm_eval.checks._judges import judge_request
from helm_eval.checks._pii import find_pii
from helm_eval.checks._registry import (
    REGISTRY,
    CheckError,
    CheckInput,
    CheckOutput,
    CheckType,
    EmbedFn,
    JudgeFn,
    parse_type,
    register,
    run_check,
    validate_assertion,
)
from helm_eval.checks._secrets import find_secrets

__all__ = [
    "ALLOWANCES",
    "REGISTRY",
    "CheckError",
    "CheckInput",
    "CheckOutput",
    "CheckType",
    "EmbedFn",
    "Finding",
    "InputBlocked",
    "JudgeFn",
    "assert_check",
    "check",
    "find_pii",
    "find_secrets",
    "judge_request",
    "parse_type",
    "redact",
    "register",
    "run_check",
    "scan_inputs",
    "scan_texts",
    "unknown_allowances",
    "validate_assertion",
]
