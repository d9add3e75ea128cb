"""A circuit breaker per endpoint: once it is known dead, its remaining calls end at once.

Without it, each remaining call would time out through all its retries (250 identical errors, 4× the time).
"""

from __future__ import annotations

from dataclasses import dataclass

DEAD_AFTER = 5
"""Calls in a row that must fail for good (after their retries) before an endpoint counts as dead."""


@dataclass(slots=True)
class Breaker:
    """Counts calls to one endpoint that failed for good in a row; open (dead) after ``threshold`` of them."""

    threshold: int = DEAD_AFTER
    failures: int = 0
    last_error: str = ""
    open: bool = False
    refused: int = 0
    """Calls ended without being sent because the endpoint was dead."""

    def succeeded(self) -> None:
        """A call got an answer: the endpoint is alive."""
        self.failures = 0

    def failed(self, error: str) -> None:
        """A call failed for good with a server-side error (connection, timeout, 5xx)."""
        self.failures += 1
        self.last_error = error
        if self.failures >= self.threshold:
            self.open = True

    def refuse(self, endpoint: str) -> str:
        """Count a call not sent, and the one-line reason it gets."""
        self.refused += 1
        return self.reason(endpoint)

    def reason(self, endpoint: str) -> str:
        """Why calls to ``endpoint`` are no longer sent."""
        return (
            f"endpoint {endpoint!r} is down ({self.failures} calls in a row failed, last: {self.last_error}); not sent"
        )
