"""``similar``: cosine similarity of embeddings of the output and the expected text (promptfoo's meaning).

The embeddings come from the project's embedding endpoint (``embedding:`` in helm-eval.yaml), through the run's
pipeline: budgeted, cached and recorded like every call.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from helm_eval.checks._registry import CheckInput, CheckOutput, register
from helm_eval.checks._types import CheckError

SIMILAR_THRESHOLD = 0.75
"""promptfoo's default minimum cosine similarity."""


def _expected(value: Any, threshold: float | None) -> None:
    texts = value if isinstance(value, list) else [value]
    if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise ValueError("value must be the expected text or a list of them")
    if threshold is not None and not -1 <= threshold <= 1:
        raise ValueError("threshold is a cosine similarity, between -1 and 1")


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0 when either is all zeros)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norms if norms else 0.0


@register("similar", validate=_expected)
def similar(check: CheckInput) -> CheckOutput:
    """The output's embedding is cosine-similar to the expected text's (any one of a list): default 0.75.

    Raises ``CheckError`` without an embedding endpoint.
    """
    if check.embed is None:
        raise CheckError("no embedding endpoint: set embedding: {endpoint: <name>} in helm-eval.yaml")
    expected = check.value if isinstance(check.value, list) else [check.value]
    vectors = check.embed([check.output, *map(str, expected)])
    if len(vectors) != len(expected) + 1:
        raise CheckError(f"the embedding endpoint returned {len(vectors)} vectors for {len(expected) + 1} texts")
    scores = [cosine(vectors[0], v) for v in vectors[1:]]
    best = max(scores)
    threshold = check.threshold if check.threshold is not None else SIMILAR_THRESHOLD
    closest = expected[scores.index(best)]
    reason = f"cosine similarity {best:.3f} to {closest!r} (threshold {threshold:g})"
    return CheckOutput(best + 1e-12 >= threshold, reason, best, threshold)
