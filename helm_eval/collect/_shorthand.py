"""promptfoo's one-string assertion shorthand, as written in a CSV ``__expected`` column.

``contains:Paris``, ``not-icontains:sorry``, ``icontains-any:yes,yeah``, ``levenshtein(3):Paris``,
``llm-rubric:is polite``; a text that names no assertion type is an ``equals`` check of the whole text.
"""

from __future__ import annotations

import re
from typing import Any

_NAMES = (
    "answer-relevance bleu classifier contains contains-all contains-any contains-html contains-json "
    "contains-sql contains-xml context-faithfulness context-recall context-relevance conversation-relevance cost "
    "equals factuality finish-reason g-eval gleu guardrails icontains icontains-all icontains-any is-html is-json "
    "is-refusal is-sql is-valid-function-call is-valid-openai-function-call is-valid-openai-tools-call is-xml "
    "javascript latency levenshtein llm-rubric pi meteor model-graded-closedqa model-graded-factuality moderation "
    "perplexity perplexity-score python regex rouge-n ruby similar starts-with tool-call-f1 webhook word-count"
)
PROMPTFOO_TYPES = tuple(_NAMES.split())
"""Assertion types promptfoo's shorthand recognises (a ``type:`` prefix naming none of them is plain text)."""

_TYPE = re.compile(
    r"^(not-)?(" + "|".join(re.escape(t) for t in sorted(PROMPTFOO_TYPES, key=len, reverse=True)) + r")"
    r"(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$"
)
_LIST_TYPES = frozenset({"contains-all", "contains-any", "icontains-all", "icontains-any"})
_CODE = (
    "runs code written in the suite or its data, which helm-eval does not do; write the check as a "
    "python:module:function assertion in the suite, or use a built-in type"
)


class ShorthandError(ValueError):
    """The shorthand names something helm-eval cannot honour; the message says what and what to do."""


def assertion_from_string(text: str) -> dict[str, Any]:
    """The assertion mapping (``type``, ``value``, maybe ``threshold``) that promptfoo reads from ``text``."""
    for prefix in ("javascript:", "fn:", "eval:"):
        if text.startswith(prefix):
            raise ShorthandError(f"{prefix} {_CODE}")
    if text.startswith("file://") and re.search(r"\.(js|ts|mjs|cjs|py)(:|$)", text):
        raise ShorthandError(f"a file:// code assertion {_CODE}")
    if text.startswith("python:"):
        raise ShorthandError(f"python: {_CODE}")
    for prefix in ("grade:", "llm-rubric:"):
        if text.startswith(prefix):
            return {"type": "llm-rubric", "value": text[len(prefix) :]}
    match = _TYPE.match(text)
    if match is None:
        return {"type": "equals", "value": text}
    negate, kind, threshold, value = match.groups()
    if kind in ("javascript", "python", "ruby", "webhook"):
        raise ShorthandError(f"{kind}: {_CODE}")
    result: dict[str, Any] = {"type": f"{negate or ''}{kind}"}
    if kind in _LIST_TYPES:
        if value is None:
            raise ShorthandError(f"{kind} needs a comma-separated list after the colon, e.g. {kind}:yes,no")
        result["value"] = [part.strip() for part in value.split(",")]
    elif value is not None:
        result["value"] = value
    if threshold is not None:
        result["threshold"] = float(threshold)
    return result


def code_problem(raw_type: str) -> str | None:
    """Why an assertion of promptfoo's code-running types cannot be honoured, or ``None`` for any other type."""
    kind = raw_type.removeprefix("not-")
    if kind in ("javascript", "python", "ruby", "webhook"):
        return f"assertion {raw_type!r} {_CODE}"
    return None
