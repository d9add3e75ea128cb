"""The ``judge:`` section of the project config: which endpoint grades model-graded checks, and how."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from helm_eval.config._suite import _Strict


class RejudgeSpec(_Strict):
    """Re-judge a verdict whose score lands near the threshold and keep the majority."""

    margin: float = Field(default=0.1, ge=0, le=1)
    """A verdict is re-judged when ``|score - threshold| <= margin`` (scores are 0-1)."""
    times: int = Field(default=3, ge=1, le=15)
    """Verdicts taken in all (the first one included); the majority decides. Odd numbers avoid ties."""


class JudgeModel(_Strict):
    """One judge of a cascade: a configured endpoint and the model to request there."""

    endpoint: str | None = None
    """Name of a configured endpoint (default: the default endpoint)."""
    model: str | None = None
    """Model to request (default: the endpoint's model)."""


class JudgeSpec(_Strict):
    """The judge of model-graded checks (``g-eval``, ``llm-rubric``, ...): a configured endpoint, routed like any call.

    Its calls go through the same budget, cache, retries and ledger as the system under test, recorded with
    ``kind=judge`` and counted as the case's ``judge_tokens``.
    """

    endpoint: str | None = None
    """Name of a configured endpoint (default: the default endpoint, i.e. the model under test grades itself)."""
    model: str | None = None
    """Model to request (default: the endpoint's model)."""
    temperature: float = Field(default=0.0, ge=0)
    """Sampling temperature of judge calls; 0 makes verdicts repeatable and cacheable."""
    seed: int = 0
    """Seed of judge calls; re-judgments use ``seed + 1``, ``seed + 2``, ..."""
    max_tokens: int = Field(default=512, ge=1)
    """Most completion tokens per judge call; also what the budget reserves for it."""
    rejudge: RejudgeSpec | None = None
    """Re-judge verdicts near the threshold (off by default); needs ``temperature`` > 0."""
    models: list[JudgeModel] = Field(default_factory=list)
    """A judge cascade, cheapest first: ``[small, large]``. The first judge decides; the next is asked only when
    its score lies within ``escalate_within`` of the threshold or it gave no valid verdict. An entry is an
    endpoint name or ``{endpoint, model}``. Replaces ``endpoint``/``model``."""
    escalate_within: float = Field(default=0.1, ge=0, le=1)
    """Half-width of the band around the threshold (scores are 0-1) where a cascade's judge defers to the next."""
    ahead: bool = True
    """Send a judge call as soon as its case's output arrives, alongside other cases' calls, rather than when the
    case's verdict is taken (checks whose judge prompt follows from the output: ``llm-rubric``)."""
    structured: bool = True
    """Ask the judge for its verdict as JSON matching a schema (``response_format``), which vLLM enforces by
    guided decoding. An endpoint that rejects the field (HTTP 400) is asked again without it, once per run."""

    @field_validator("models", mode="before")
    @classmethod
    def _names_are_endpoints(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"endpoint": item} if isinstance(item, str) else item for item in value]
        return value

    @model_validator(mode="after")
    def _cascade_replaces_the_single_judge(self) -> JudgeSpec:
        if self.models and (self.endpoint is not None or self.model is not None):
            raise ValueError("give judge.models (a cascade) or judge.endpoint/judge.model, not both")
        if len(self.models) == 1:
            raise ValueError("judge.models is a cascade of two or more judges; for one, use judge.endpoint")
        return self

    @property
    def judges(self) -> list[JudgeModel]:
        """The judges in the order they are asked: the cascade, or the one judge."""
        return self.models or [JudgeModel(endpoint=self.endpoint, model=self.model)]

    @model_validator(mode="after")
    def _rejudge_needs_sampling(self) -> JudgeSpec:
        if self.rejudge is not None and self.rejudge.times > 1 and self.temperature == 0:
            raise ValueError(
                "judge.rejudge needs judge.temperature > 0: at temperature 0 every re-judgment repeats the first"
            )
        return self
