"""The ``similar`` check's embeddings, fetched through the pipeline like any other call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from helm_eval._records import Call, Case, Outcome
from helm_eval.checks import CheckError
from helm_eval.config import BudgetCut, EmbeddingSpec
from helm_eval.dispatch import EMBEDDING, Dispatcher, Endpoint


class _Pipeline(Protocol):
    @property
    def endpoints(self) -> dict[str, Endpoint]: ...

    def dispatcher(self) -> Dispatcher: ...

    def call(self, call: Call, case: Case) -> Outcome: ...


@dataclass(slots=True)
class Embedder:
    """Embeds texts for one case's checks: one ``embedding`` call per use, budgeted, cached and recorded."""

    pipeline: _Pipeline
    case: Case
    spec: EmbeddingSpec
    outcomes: list[Outcome]
    """Where each call's outcome goes (the case's check calls: their tokens and cost)."""

    def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text; ``CheckError`` when the endpoint is unknown, the budget refuses or the call fails."""
        endpoint = self.pipeline.endpoints.get(self.spec.endpoint)
        if endpoint is None:
            raise CheckError(f"embedding endpoint {self.spec.endpoint!r} is not configured")
        self.pipeline.dispatcher()  # checks the endpoints once, taking the one model a server serves
        model = self.spec.model or endpoint.model
        if model is None:
            raise CheckError(f"no model for embedding endpoint {endpoint.name!r}: set embedding.model")
        messages = tuple({"role": "user", "content": text} for text in texts)
        # max_tokens bounds the budget's reservation; an embeddings request has no completion and does not send it
        call = Call(endpoint.name, endpoint.base_url, model, messages, {"max_tokens": 1}, case_id=self.case.id,
                    kind=EMBEDDING)  # fmt: skip
        try:
            outcome = self.pipeline.call(call, self.case)
        except BudgetCut as cut:
            raise CheckError(str(cut)) from None
        self.outcomes.append(outcome)
        if outcome.error is not None:
            raise CheckError(
                f"embedding call to endpoint {endpoint.name!r} ({endpoint.base_url}) failed: {outcome.error}"
            )
        return [list(vector) for vector in outcome.embeddings]
