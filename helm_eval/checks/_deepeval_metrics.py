"""deepeval's metrics, measured one case at a time with the run's judge as their model.

deepeval is imported here, lazily, after ``helm_eval._deepeval.contain_env``. Metrics are measured directly
(``metric.measure``, synchronous, no progress indicator); ``deepeval.evaluate()`` is never used (its per-case
bookkeeping costs ~150 ms). The model is a ``DeepEvalBaseLLM`` whose ``generate`` sends the prompt through
the run's judge, so every judge call is budgeted, cached, retried and recorded like any other call.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import io
import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from helm_eval._deepeval import contain_env
from helm_eval._text import quote
from helm_eval.checks._registry import CheckError, JudgeFn
from helm_eval.checks._types import json_schema_format

INSTALL_HINT = "pip install 'helm-eval[judges]'"
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class Measured:
    """A metric's verdict: score 0-1 (1 is best for every metric), the threshold applied and the judge's reason."""

    score: float
    threshold: float
    reason: str

    @property
    def passed(self) -> bool:
        """The rule of deepeval: a score at or above the threshold passes."""
        return self.score >= self.threshold


def deepeval_available() -> bool:
    """Whether deepeval can be imported (checked at suite load, without importing it)."""
    return importlib.util.find_spec("deepeval") is not None


def measure(
    metric_name: str,
    judge: JudgeFn,
    *,
    input: str,
    output: str,
    threshold: float | None,
    context: Sequence[str] | None = None,
    criteria: str | None = None,
    evaluation_steps: Sequence[str] | None = None,
) -> Measured:
    """Measure one deepeval metric on one output; malformed judge output raises ``CheckError`` with an excerpt."""
    deepeval = _import_deepeval()
    model = _model_class()(judge)
    bound = DEFAULT_THRESHOLD if threshold is None else threshold
    test_case = deepeval.LLMTestCase(
        input=input,
        actual_output=output,
        context=list(context) if context is not None else None,
        retrieval_context=list(context) if context is not None else None,
    )
    common: dict[str, Any] = {"model": model, "threshold": bound, "async_mode": False}
    with warnings.catch_warnings():
        # deepeval 4 warns once that hallucination/bias/toxicity now score 1 = clean; docs/judges.md says so
        warnings.simplefilter("ignore", DeprecationWarning)
        if metric_name == "g-eval":
            metric = deepeval.GEval(
                name="g-eval",
                criteria=criteria,
                evaluation_steps=list(evaluation_steps) if evaluation_steps else None,
                evaluation_params=[deepeval.SingleTurnParams.INPUT, deepeval.SingleTurnParams.ACTUAL_OUTPUT],
                **common,
            )
        else:
            metric = deepeval.METRICS[metric_name](**common)
        try:
            metric.measure(test_case, _show_indicator=False)
        except CheckError:
            raise
        except Exception as exc:  # deepeval raises ValueError/KeyError/TypeError/... on output it cannot use
            raise CheckError(_malformed(metric_name, model.last_text, exc)) from None
    score = metric.score
    if not isinstance(score, int | float):
        raise CheckError(_malformed(metric_name, model.last_text, None))
    return Measured(float(score), bound, str(metric.reason or "").strip())


def _malformed(metric_name: str, text: str | None, exc: BaseException | None) -> str:
    shown = quote(text, 200) if text is not None else "nothing"
    if isinstance(exc, ValueError) and "invalid JSON" in str(exc):
        problem = "is not JSON"
    elif isinstance(exc, KeyError):
        problem = f"lacks {exc}"
    elif exc is not None:
        problem = f"is not the JSON {metric_name} expects ({type(exc).__name__}: {exc})"
    else:
        problem = f"gave {metric_name} no score"
    return f"judge output {problem}; judge said: {shown}"


class _DeepEval:
    """The few deepeval names used here, imported once."""

    def __init__(self) -> None:
        from deepeval.metrics import (
            AnswerRelevancyMetric,
            BiasMetric,
            FaithfulnessMetric,
            GEval,
            HallucinationMetric,
            ToxicityMetric,
        )
        from deepeval.test_case import LLMTestCase, SingleTurnParams

        self.GEval = GEval
        self.LLMTestCase = LLMTestCase
        self.SingleTurnParams = SingleTurnParams
        self.METRICS: dict[str, Any] = {
            "answer-relevancy": AnswerRelevancyMetric,
            "faithfulness": FaithfulnessMetric,
            "hallucination": HallucinationMetric,
            "bias": BiasMetric,
            "toxicity": ToxicityMetric,
        }


@functools.cache
def _import_deepeval() -> _DeepEval:
    if not deepeval_available():
        raise CheckError(f"model-graded checks need deepeval: {INSTALL_HINT}")
    contain_env()
    # on import, deepeval prints and logs that it is read-only (as asked); keep that out of failure reports
    logger = logging.getLogger("deepeval")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return _DeepEval()
    finally:
        logger.setLevel(level)


@functools.cache
def _model_class() -> Any:
    """The ``DeepEvalBaseLLM`` subclass, defined on first use (its base class lives in deepeval)."""
    from deepeval.models import DeepEvalBaseLLM

    class HelmEvalJudge(DeepEvalBaseLLM):  # type: ignore[no-untyped-call]  # deepeval is untyped
        """deepeval's view of the run's judge: one prompt in, one text out, through the helm-eval pipeline."""

        def __init__(self, judge: JudgeFn) -> None:
            self._judge = judge
            self.last_text: str | None = None
            super().__init__("helm-eval-judge")

        def load_model(self, *args: Any, **kwargs: Any) -> HelmEvalJudge:
            return self

        def generate(self, prompt: Any, schema: Any = None, **kwargs: Any) -> str:
            # the schema (a pydantic model) becomes a response_format the server can enforce; the text is
            # returned either way and deepeval parses the JSON out of it (and says so when it cannot)
            params: dict[str, Any] = {}
            to_schema = getattr(schema, "model_json_schema", None)
            if callable(to_schema):
                name = str(getattr(schema, "__name__", "verdict"))
                params["response_format"] = json_schema_format(name, to_schema(), strict=False)
            outcome = self._judge([{"role": "user", "content": str(prompt)}], params)
            self.last_text = outcome.text
            return outcome.text

        async def a_generate(self, prompt: Any, schema: Any = None, **kwargs: Any) -> str:
            return await asyncio.to_thread(self.generate, prompt, schema)

        def get_model_name(self, *args: Any, **kwargs: Any) -> str:
            return "helm-eval judge"

    return HelmEvalJudge
