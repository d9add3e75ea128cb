"""The types every check shares: what a check sees, what it finds, and how it is registered."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from helm_eval._errors import HelmEvalError
from helm_eval._records import Outcome

PYTHON_PREFIX = "python:"

ValueRule = Literal["required", "optional", "none"]

JudgeFn = Callable[[Sequence[dict[str, str]], dict[str, Any]], Outcome]
"""Sends chat messages to the project's judge with sampling params merged over the judge's defaults; raises
``CheckError`` when the call fails for good. Provided by the run, so judge calls go through the one pipeline."""


def json_schema_format(name: str, schema: dict[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """The ``response_format`` asking an OpenAI-compatible server for JSON matching ``schema``.

    vLLM enforces it by guided decoding, so even a small judge replies with a readable verdict; a server that
    rejects the field is asked again without it (by the pipeline's judge path).
    """
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": strict}}


EmbedFn = Callable[[Sequence[str]], list[list[float]]]
"""Embeds texts with the project's embedding endpoint (one vector per text); raises ``CheckError`` when the call
fails. Provided by the run, so embedding calls go through the one pipeline (budget, cache, ledger)."""


class CheckError(HelmEvalError):
    """A check could not reach a verdict (malformed judge output, a failed judge call); the message is the reason."""


@dataclass(frozen=True, slots=True)
class CheckInput:
    """What a check sees: the output text, the assertion's value/threshold and the call's outcome."""

    output: str
    value: Any = None
    threshold: float | None = None
    outcome: Outcome | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    messages: Sequence[dict[str, str]] = ()
    """The chat messages that produced ``output`` (model-graded checks read the question from them)."""
    judge: JudgeFn | None = None
    """The run's judge, for model-graded checks; ``None`` outside a helm-eval run."""
    options: Mapping[str, Any] = field(default_factory=dict)
    """The request options of the call (``tools`` offered, ``max_tokens``, ...)."""
    cost_usd: float | None = None
    """What the call cost (every turn of a conversation), when a per-token price is known."""
    embed: EmbedFn | None = None
    """The run's embedding endpoint, for ``similar``; ``None`` when none is configured."""


@dataclass(frozen=True, slots=True)
class CheckOutput:
    """A check's finding; ``reason`` describes the output, not the expectation."""

    passed: bool
    reason: str
    score: float | None = None
    threshold: float | None = None
    """The threshold the check applied, when it used its own default (the assertion gave none)."""


CheckFn = Callable[[CheckInput], CheckOutput]
Validator = Callable[[Any, float | None], None]


@dataclass(frozen=True, slots=True)
class CheckType:
    """A registered check: its function, what its ``value`` must be, and an optional validator."""

    name: str
    fn: CheckFn
    value: ValueRule
    validate: Validator | None
    description: str
    ours: bool = False
    """One of helm-eval's own checks: it never raises ``SystemExit``/``KeyboardInterrupt`` itself, so a
    ``KeyboardInterrupt`` while it runs is a real Ctrl-C and needs no watching."""
