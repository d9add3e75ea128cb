"""The ``embedding:`` section of the project config: where the ``similar`` check gets its embeddings."""

from __future__ import annotations

from helm_eval.config._suite import _Strict


class EmbeddingSpec(_Strict):
    """The embedding endpoint of ``similar``: a configured endpoint serving ``/v1/embeddings``.

    Its calls go through the same budget, cache, retries and ledger as every other call, recorded with
    ``kind=embedding``.
    """

    endpoint: str
    """Name of a configured endpoint (e.g. a vLLM serving all-MiniLM-L6-v2 with ``--runner pooling``)."""
    model: str | None = None
    """Model to request (default: the endpoint's model, or the one model it serves)."""
