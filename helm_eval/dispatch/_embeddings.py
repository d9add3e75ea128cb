"""Embedding requests (``POST /v1/embeddings``): the ``similar`` check's calls, sent by the same client and loop.

An embedding call is a ``Call`` of kind ``embedding`` whose messages hold the texts (so token estimates, the cache
key and the ledger treat it like any call); the request body is the OpenAI embeddings shape.
"""

from __future__ import annotations

import math
from typing import Any

from helm_eval._records import Call, Outcome

EMBEDDING = "embedding"
"""``Call.kind`` of an embedding request."""


def embedding_payload(call: Call) -> dict[str, Any]:
    """The JSON body of an embeddings request for ``call``: its model and the texts of its messages."""
    return {"model": call.model, "input": [str(m.get("content", "")) for m in call.messages]}


def embedding_outcome(data: Any, endpoint: str, call: Call, latency_ms: float, retries: int) -> Outcome:
    """The outcome of an embeddings response; ``ValueError`` when it is not one vector of numbers per text."""
    try:
        items = sorted(data["data"], key=lambda item: int(item.get("index", 0)))
        vectors = tuple(tuple(float(x) for x in item["embedding"]) for item in items)
        usage = data.get("usage") or {}
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ValueError("response has no data[].embedding") from None
    if len(vectors) != len(call.messages) or not all(vectors) or not all(map(_finite, vectors)):
        raise ValueError(f"expected {len(call.messages)} finite embeddings, got {len(vectors)}")
    prompt = usage.get("prompt_tokens")
    return Outcome(
        "",
        prompt_tokens=prompt if isinstance(prompt, int) else None,
        completion_tokens=0,
        latency_ms=latency_ms,
        endpoint=endpoint,
        model=str(data.get("model") or call.model),
        retries=retries,
        embeddings=vectors,
    )


def _finite(vector: tuple[float, ...]) -> bool:
    return all(math.isfinite(x) for x in vector)
