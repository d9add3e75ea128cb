"""When a sampled case is decided: its pass rule, and how many runs the next round of an early stop sends.

A case with ``repeat: {max: N}`` is decided as soon as the Wilson interval of its pass rate (at the case's
``confidence``) lies wholly above its required pass rate (pass) or wholly below it (fail). The interval is the one
every report shows for repeats (``helm_eval._stats.wilson_interval``); only its confidence varies.

Rounds: the first is the fewest runs after which the interval could decide at all (all of them passing, or all
failing): fewer could not stop anything. Later rounds are at least that (the fewest further runs that could
decide), and grow towards the runs made so far (doubling) while the data lean the way a decision is still far off,
so a case needs only a handful of rounds even when one failure could decide it (``pass_rate`` 1.0).
"""

from __future__ import annotations

from helm_eval._records import Case
from helm_eval._stats import wilson_interval, z_for

EPSILON = 1e-12
"""Tolerance for comparing rates and bounds (a bound of exactly the pass rate reaches it)."""


def rate_interval(passes: int, runs: int, confidence: float) -> tuple[float, float]:
    """The Wilson interval of ``passes`` of ``runs`` at ``confidence``; ``(0, 1)`` for no runs."""
    return wilson_interval(passes, runs, z_for(confidence))


def interval_decision(passes: int, runs: int, pass_rate: float, confidence: float) -> bool | None:
    """``True`` when the interval lies wholly at or above ``pass_rate``, ``False`` wholly below, else ``None``.

    Never decides on no runs.
    """
    if runs <= 0:
        return None
    low, high = rate_interval(passes, runs, confidence)
    if low + EPSILON >= pass_rate:
        return True
    if high + EPSILON < pass_rate:
        return False
    return None


def case_decision(case: Case, passes: int, runs: int) -> bool | None:
    """Whether ``passes`` of ``runs`` pass ``case`` under its rule; ``None`` when the interval is inconclusive.

    ``decide: rate`` (the default) never answers ``None``: the share of passing runs reaches the pass rate or not.
    """
    if case.decide == "interval":
        return interval_decision(passes, runs, case.threshold, case.confidence)
    rate = passes / runs if runs else 0.0
    return rate + EPSILON >= case.threshold


def runs_to_decide(passes: int, runs: int, most: int, pass_rate: float, confidence: float, *, passing: bool) -> int:
    """The fewest further runs (within ``most`` in all) that decide if every one passes (``passing``) or fails.

    0 when no number of them would.
    """
    for extra in range(1, most - runs + 1):
        if interval_decision(passes + extra if passing else passes, runs + extra, pass_rate, confidence) is not None:
            return extra
    return 0


def round_size(passes: int, runs: int, most: int, pass_rate: float, confidence: float) -> int:
    """How many runs the next round sends, after ``passes`` of ``runs`` (at most ``most`` runs in all).

    At least the fewest runs that could decide; up to the runs made so far while the side the data lean to needs
    more than that; every remaining run when no outcome could decide before the last one.
    """
    remaining = most - runs
    if remaining <= 0:
        return 0
    to_pass = runs_to_decide(passes, runs, most, pass_rate, confidence, passing=True)
    to_fail = runs_to_decide(passes, runs, most, pass_rate, confidence, passing=False)
    possible = [m for m in (to_pass, to_fail) if m]
    if not possible:
        return remaining
    need = min(possible)
    leaning = to_pass if runs and passes / runs + EPSILON >= pass_rate else to_fail
    grow = min(runs, leaning or remaining)
    return min(remaining, max(need, grow))


def first_round(case: Case) -> int:
    """Runs ``case`` sends first: all of them, unless it stops early."""
    if not case.stop_early:
        return case.repeat
    return round_size(0, 0, case.repeat, case.threshold, case.confidence)


def stopped(case: Case, passes: int, runs: int) -> bool:
    """True when an early-stopping case needs no more runs: its interval decided, or it made them all."""
    return runs >= case.repeat or interval_decision(passes, runs, case.threshold, case.confidence) is not None
