"""A circuit breaker per endpoint: once it is known dead, its calls end at once (or go to a fallback).

Without it, each remaining call would time out through all its retries (250 identical errors, 4× the time).
After a cool-down the breaker lets one call through (half-open): an answer closes it again, a failure keeps it
open for another cool-down. So a primary that restarts mid-run takes its calls back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

DEAD_AFTER = 8
"""Attempts in a row (over all calls to the endpoint) that must fail with a server-side error before it counts
as dead: with retries backing off, the first attempts of many calls interleave, so counting whole calls would
send nearly every call once before noticing."""

COOL_DOWN_S = 30.0
"""Seconds an open breaker refuses calls before it lets one through to probe the endpoint again."""


@dataclass(slots=True)
class Breaker:
    """Counts failed attempts at one endpoint in a row; open (dead) after ``threshold`` of them.

    Closed: every call goes through. Open: calls are refused until ``cooldown`` seconds have passed, then one
    probe goes through (half-open) while the others are still refused; the probe's answer closes the breaker,
    its failure (a timeout included) opens it for another cool-down. ``clock`` is injectable for tests.
    """

    threshold: int = DEAD_AFTER
    cooldown: float = COOL_DOWN_S
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    failures: int = 0
    last_error: str = ""
    open: bool = False
    refused: int = 0
    """Calls ended without being sent because the endpoint was dead."""
    opened_at: float = 0.0
    probing: bool = False
    """A half-open probe is in flight."""
    trips: int = 0
    """How many times the breaker opened."""

    def allow(self) -> bool:
        """May an attempt be sent now? Closed: yes; open: only the one probe after the cool-down."""
        if not self.open:
            return True
        if self.probing or self.clock() - self.opened_at < self.cooldown:
            return False
        self.probing = True
        return True

    def succeeded(self) -> None:
        """An attempt got an answer: the endpoint is alive (a half-open breaker closes)."""
        self.failures = 0
        self.open = False
        self.probing = False

    def failed(self, error: str) -> None:
        """An attempt failed with a server-side error (refused or dropped connection, 5xx).

        Timeouts do not count while closed (a slow server is not a dead one); see ``timed_out``.
        """
        self.failures += 1
        self.last_error = error
        if self.probing or (not self.open and self.failures >= self.threshold):
            self.trip(error)

    def timed_out(self, error: str) -> None:
        """An attempt timed out: it says nothing while closed, but a probe that times out keeps the breaker open."""
        if self.probing:
            self.failures += 1
            self.last_error = error
            self.trip(error)

    def trip(self, error: str) -> None:
        """Open now (also: the endpoint was unreachable before the run sent anything)."""
        self.last_error = error or self.last_error
        if not self.open:
            self.trips += 1
        self.open = True
        self.probing = False
        self.opened_at = self.clock()

    def refuse(self, endpoint: str) -> str:
        """Count a call not sent, and the one-line reason it gets."""
        self.refused += 1
        return self.reason(endpoint)

    def reason(self, endpoint: str) -> str:
        """Why calls to ``endpoint`` are no longer sent."""
        failed = f"{self.failures} attempts in a row failed, last: {self.last_error}"
        return f"endpoint {endpoint!r} is down ({failed}); not sent"
