"""A circuit breaker per endpoint: once it is known dead, its remaining calls end at once.

Without it, each remaining call would time out through all its retries (250 identical errors, 4× the time).
"""

from __future__ import annotations

from dataclasses import dataclass

DEAD_AFTER = 8
"""Attempts in a row (over all calls to the endpoint) that must fail with a server-side error before it counts
as dead: with retries backing off, the first attempts of many calls interleave, so counting whole calls would
send nearly every call once before noticing."""


@dataclass(slots=True)
class Breaker:
    """Counts failed attempts at one endpoint in a row; open (dead) after ``threshold`` of them."""

    threshold: int = DEAD_AFTER
    failures: int = 0
    last_error: str = ""
    open: bool = False
    refused: int = 0
    """Calls ended without being sent because the endpoint was dead."""

    def succeeded(self) -> None:
        """An attempt got an answer: the endpoint is alive."""
        self.failures = 0

    def failed(self, error: str) -> None:
        """An attempt failed with a server-side error (refused or dropped connection, 5xx); timeouts do not count."""
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
        failed = f"{self.failures} attempts in a row failed, last: {self.last_error}"
        return f"endpoint {endpoint!r} is down ({failed}); not sent"
