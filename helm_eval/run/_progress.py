"""A live progress line on an interactive terminal: cases done and queued, tokens so far, budget left, ETA.

It sits at the end of pytest's own progress line and is erased before pytest writes anything there, so pytest's
dots and percentages are left as they were. It is off when stdout is not a terminal, on CI (``CI``,
``GITHUB_ACTIONS``, ``GITLAB_CI``), with ``-qq``, and in pytest-xdist workers: logs get no control characters.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TextIO

from helm_eval._records import BudgetSummary

CI_VARIABLES = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "JENKINS_URL", "TF_BUILD")
BUDGET_EVERY_S = 5.0
"""How often the budget's use is read from the ledger (a query); the rest of the line is counters in memory."""


def wanted(stream: TextIO, verbosity: int, environ: dict[str, str] | None = None) -> bool:
    """True when a live line helps: an interactive terminal, not CI, not ``-qq``."""
    env = os.environ if environ is None else environ
    on_ci = any(env.get(name, "").lower() not in ("", "0", "false") for name in CI_VARIABLES)
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty and not on_ci and verbosity > -2 and env.get("TERM") != "dumb"


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class ProgressLine:
    """Draws and erases the status at the end of the terminal's current line."""

    def __init__(
        self,
        stream: TextIO,
        budget: Callable[[], BudgetSummary | None],
        *,
        clock: Callable[[], float] = time.monotonic,
        width: Callable[[], int] = lambda: 80,
    ) -> None:
        self.stream = stream
        self.total = 0
        self.done = 0
        self.tokens = 0
        self._budget = budget
        self._clock = clock
        self._width = width
        self._started = clock()
        self._budget_read = -BUDGET_EVERY_S
        self._budget_text = ""
        self._shown = 0

    def finished(self, tokens: int) -> None:
        """One more case is done, having spent ``tokens``."""
        self.done += 1
        self.tokens += tokens

    def text(self, room: int = 1_000) -> str:
        """The status, e.g. ``helm-eval 12/40 · 28 queued · 3,120 tokens · 96,880 tokens left · ETA 41s``.

        Parts are dropped (queued first, the count last) until it fits in ``room`` characters; empty if nothing does.
        """
        parts = {"count": f"helm-eval {self.done}/{self.total}", "queued": f"{max(0, self.total - self.done)} queued",
                 "tokens": f"{self.tokens:,} tokens"}  # fmt: skip
        now = self._clock()
        if now - self._budget_read >= BUDGET_EVERY_S:
            self._budget_read = now
            self._budget_text = _budget_left(self._budget())
        if self._budget_text:
            parts["budget"] = self._budget_text
        elapsed = now - self._started
        if self.done and self.total > self.done and elapsed > 0:
            parts["eta"] = f"ETA {_duration(elapsed / self.done * (self.total - self.done))}"
        for drop in ("queued", "budget", "tokens", "eta", "count", ""):
            text = " · ".join(parts.values())
            if len(text) <= room:
                return text
            parts.pop(drop, None)
        return ""

    def draw(self, column: int) -> None:
        """Show the status after ``column`` characters already written on the line, when it fits on the screen.

        The terminal wraps a long line of dots, so the cursor is at ``column`` modulo the width.
        """
        self.erase()
        width = max(1, self._width())
        text = self.text(width - column % width - 1 - 4)
        if not text:
            return
        text = f"  [{text}]"
        self.stream.write(text)
        self.stream.flush()
        self._shown = len(text)

    def erase(self) -> None:
        """Remove the status (cursor back over it, clear to the end of the line)."""
        if self._shown:
            self.stream.write(f"\x1b[{self._shown}D\x1b[K")
            self.stream.flush()
            self._shown = 0


def _budget_left(summary: BudgetSummary | None) -> str:
    if summary is None:
        return ""
    remaining, unit = summary.remaining()
    if remaining is None:
        return ""
    return f"{remaining:,.0f} tokens left" if unit == "tokens" else f"${remaining:,.4f} left"
