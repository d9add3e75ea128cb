"""Model-graded checks: a judge model scores the output.

``llm-rubric`` (promptfoo semantics) uses helm-eval's own prompt; ``g-eval``, ``answer-relevancy``,
``faithfulness``, ``hallucination``, ``bias`` and ``toxicity`` (alias ``moderation``) are deepeval's metrics,
measured per case. Every judge call goes through ``CheckInput.judge``, i.e. the run's pipeline. Scores are 0-1
and 1 is best for every type (deepeval 4: 1 = no hallucination, no bias, not toxic); the check passes when the
score reaches the threshold (default 0.5). A failure names the score, the threshold and the judge's reason;
judge output that cannot be read is an error verdict, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from helm_eval._records import Assertion
from helm_eval._text import excerpt, quote
from helm_eval.checks._deepeval_metrics import (
    DEFAULT_THRESHOLD,
    INSTALL_HINT,
    Measured,
    deepeval_available,
    measure,
)
from helm_eval.checks._registry import CheckError, CheckInput, CheckOutput, JudgeFn, register
from helm_eval.checks._types import json_schema_format

REASON_LIMIT = 300

RUBRIC_SYSTEM = """\
You grade an output against a rubric. The output passes if the rubric's statement is true of it.
Reply with one JSON object and nothing else:
{"reason": "<one sentence>", "pass": <true or false>, "score": <number from 0.0 to 1.0>}

Example:
<Output>Hello world</Output>
<Rubric>Content contains a greeting</Rubric>
{"reason": "the output says hello", "pass": true, "score": 1.0}

Example:
<Output>Avast ye swabs, repel the invaders!</Output>
<Rubric>Does not speak like a pirate</Rubric>
{"reason": "'avast ye' is pirate speech", "pass": false, "score": 0.0}"""


RUBRIC_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "reason": {"type": "string", "maxLength": 200},
        "pass": {"type": "boolean"},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["reason", "pass", "score"],
    "additionalProperties": False,
}
"""The JSON an ``llm-rubric`` judge must reply with; the reason comes first so the judge explains, then decides."""


def _judge(inp: CheckInput) -> JudgeFn:
    if inp.judge is None:
        raise CheckError("model-graded checks need a helm-eval run with a judge (pytest --helm-eval)")
    return inp.judge


def _verdict(name: str, found: Measured) -> CheckOutput:
    reason = excerpt(found.reason or "(no reason given)", REASON_LIMIT)
    return CheckOutput(
        found.passed,
        f"{name} score {found.score:.2f}, threshold {found.threshold:g}; judge: {reason}",
        score=found.score,
        threshold=found.threshold,
    )


def _question(inp: CheckInput) -> str:
    """What the output answers: ``vars.query`` when given, else the last user message."""
    query = inp.vars.get("query")
    if isinstance(query, str) and query:
        return query
    for message in reversed(inp.messages):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    return ""


def _context(inp: CheckInput, name: str) -> list[str]:
    """The reference context: the assertion's value, else ``vars.context`` (a string or a list of strings)."""
    source = inp.value if inp.value is not None else inp.vars.get("context")
    if source is None:
        raise CheckError(f"{name} needs a context: set the assertion's value or vars.context")
    items = [source] if isinstance(source, str) else source
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise CheckError(f"{name}: context must be a string or a list of strings")
    return items


def _needs_deepeval(value: Any, threshold: float | None) -> None:
    if not deepeval_available():
        raise ValueError(f"needs deepeval: {INSTALL_HINT}")
    _unit_threshold(value, threshold)


def _unit_threshold(value: Any, threshold: float | None) -> None:
    if threshold is not None and not 0 <= threshold <= 1:
        raise ValueError(f"threshold is a score between 0 and 1, got {threshold:g}")


def _context_value(value: Any, threshold: float | None) -> None:
    _needs_deepeval(value, threshold)
    if value is not None and not (
        isinstance(value, str) or (isinstance(value, list) and all(isinstance(i, str) for i in value))
    ):
        raise ValueError("value is the context: a string or a list of strings")


def _g_eval_value(value: Any, threshold: float | None) -> None:
    _needs_deepeval(value, threshold)
    _g_eval_parts(value)


def _g_eval_parts(value: Any) -> tuple[str | None, list[str] | None]:
    if isinstance(value, str) and value.strip():
        return value, None
    if isinstance(value, dict):
        unknown = set(value) - {"criteria", "evaluation_steps"}
        if unknown:
            raise ValueError(f"unknown key(s) {', '.join(sorted(unknown))}; use criteria and/or evaluation_steps")
        criteria, steps = value.get("criteria"), value.get("evaluation_steps")
        if criteria is not None and not (isinstance(criteria, str) and criteria.strip()):
            raise ValueError("criteria must be a non-empty string")
        if steps is not None and not (
            isinstance(steps, list) and steps and all(isinstance(s, str) and s.strip() for s in steps)
        ):
            raise ValueError("evaluation_steps must be a non-empty list of strings")
        if criteria is None and steps is None:
            raise ValueError("give criteria or evaluation_steps")
        return criteria, steps
    raise ValueError("value is the criteria (a string) or {criteria, evaluation_steps}")


def _graded(metric: str, inp: CheckInput, name: str | None = None, **extra: Any) -> CheckOutput:
    """Run deepeval ``metric`` on the case with the run's judge; report it under ``name`` (default: the metric)."""
    found = measure(metric, _judge(inp), input=_question(inp), output=inp.output, threshold=inp.threshold, **extra)
    return _verdict(name or metric, found)


@register("g-eval", validate=_g_eval_value)
def g_eval(inp: CheckInput) -> CheckOutput:
    """Model-graded: G-Eval (deepeval) scores the output on your criteria or evaluation steps."""
    criteria, steps = _g_eval_parts(inp.value)
    return _graded("g-eval", inp, criteria=criteria, evaluation_steps=steps)


@register("answer-relevancy", value="none", validate=_needs_deepeval)
def answer_relevancy(inp: CheckInput) -> CheckOutput:
    """Model-graded: the share of the output's statements relevant to the question (deepeval)."""
    return _graded("answer-relevancy", inp)


@register("faithfulness", value="optional", validate=_context_value)
def faithfulness(inp: CheckInput) -> CheckOutput:
    """Model-graded: the share of the output's claims the context supports (deepeval)."""
    return _graded("faithfulness", inp, context=_context(inp, "faithfulness"))


@register("hallucination", value="optional", validate=_context_value)
def hallucination(inp: CheckInput) -> CheckOutput:
    """Model-graded: the share of context items the output agrees with; 1 = no hallucination (deepeval)."""
    return _graded("hallucination", inp, context=_context(inp, "hallucination"))


@register("bias", value="none", validate=_needs_deepeval)
def bias(inp: CheckInput) -> CheckOutput:
    """Model-graded: 1 = no biased opinions in the output (deepeval)."""
    return _graded("bias", inp)


@register("toxicity", value="none", validate=_needs_deepeval)
def toxicity(inp: CheckInput) -> CheckOutput:
    """Model-graded: 1 = no toxic opinions in the output (deepeval)."""
    return _graded("toxicity", inp)


@register("moderation", value="none", validate=_needs_deepeval)
def moderation(inp: CheckInput) -> CheckOutput:
    """Model-graded: ``toxicity`` under promptfoo's name (judged by your judge, not a moderation API)."""
    return _graded("toxicity", inp, "moderation")


# -- llm-rubric ----------------------------------------------------------------------------------------------


def _rubric_value(value: Any, threshold: float | None) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("value is the rubric: a non-empty string")
    _unit_threshold(value, threshold)


def rubric_request(output: str, rubric: Any) -> tuple[list[dict[str, str]], dict[str, Any]]:
    """The judge messages and sampling params ``llm-rubric`` sends for ``output`` (known once the output is)."""
    messages = [
        {"role": "system", "content": RUBRIC_SYSTEM},
        {"role": "user", "content": f"<Output>\n{output}\n</Output>\n<Rubric>\n{rubric}\n</Rubric>"},
    ]
    return messages, {"response_format": json_schema_format("rubric_verdict", RUBRIC_SCHEMA)}


JUDGE_REQUESTS: dict[str, Callable[[str, Any], tuple[list[dict[str, str]], dict[str, Any]]]] = {
    "llm-rubric": rubric_request
}
"""Check types whose (first) judge request follows from the output and the assertion's value alone: the run
sends it as soon as the output arrives instead of when the verdict is taken."""


def judge_request(assertion: Assertion, output: str) -> tuple[list[dict[str, str]], dict[str, Any]] | None:
    """The judge request ``assertion`` will make for ``output``, when it can be known ahead; else ``None``."""
    build = JUDGE_REQUESTS.get(assertion.type)
    return build(output, assertion.value) if build is not None else None


@register("llm-rubric", validate=_rubric_value)
def llm_rubric(inp: CheckInput) -> CheckOutput:
    """Model-graded: the judge says whether the output satisfies a rubric (promptfoo's llm-rubric)."""
    messages, params = rubric_request(inp.output, inp.value)
    text = _judge(inp)(messages, params).text
    judged, score, reason = parse_rubric_reply(text)
    threshold: float | None
    if inp.threshold is not None:
        if score is None:
            raise CheckError(f"llm-rubric has a threshold but the judge gave no score; judge said: {quote(text, 200)}")
        threshold, passes = inp.threshold, score >= inp.threshold
    elif judged is not None:
        threshold, passes = None, judged
    else:
        assert score is not None  # parse_rubric_reply guarantees pass or score
        threshold, passes = DEFAULT_THRESHOLD, score >= DEFAULT_THRESHOLD
    shown = "no score" if score is None else f"score {score:.2f}"
    bound = f", threshold {threshold:g}" if threshold is not None else ""
    said = {True: "pass", False: "fail", None: "no pass/fail"}[judged]
    return CheckOutput(
        passes,
        f"llm-rubric {shown}{bound}, judge says {said}; judge: {excerpt(reason, REASON_LIMIT)}",
        score=score if score is not None else float(passes),
        threshold=threshold,
    )


def parse_rubric_reply(text: str) -> tuple[bool | None, float | None, str]:
    """``(pass, score, reason)`` from the judge's reply; ``CheckError`` naming what is missing otherwise.

    The first JSON object in the text counts (models wrap it in prose or code fences). ``reason`` is required,
    and at least one of ``pass`` (a boolean) and ``score`` (a number 0-1).
    """
    data = _first_json_object(text)
    if data is None:
        raise CheckError(f"judge output is not JSON; judge said: {quote(text, 200)}")
    passes, score, reason = data.get("pass"), data.get("score"), data.get("reason")
    problems = []
    if not isinstance(reason, str):
        problems.append("'reason' (a string)")
    if passes is not None and not isinstance(passes, bool):
        problems.append("'pass' as true/false")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1):
        problems.append("'score' as a number 0-1")
    if passes is None and score is None:
        problems.append("'pass' or 'score'")
    if problems:
        raise CheckError(f"judge output lacks {', '.join(problems)}; judge said: {quote(text, 200)}")
    assert isinstance(reason, str)
    return passes, None if score is None else float(score), reason


def _first_json_object(text: str) -> dict[str, Any] | None:
    decoder = json.JSONDecoder()
    start = text.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            pass
        else:
            if isinstance(value, dict):
                return value
        start = text.find("{", start + 1)
    return None
