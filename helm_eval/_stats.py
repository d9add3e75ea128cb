"""Small statistics used in verdicts and reports."""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

Z_95 = 1.959963984540054


def z_for(confidence: float) -> float:
    """The two-sided normal quantile of ``confidence`` (0.95 gives ``Z_95``), for ``wilson_interval``."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return Z_95 if confidence == 0.95 else NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(passes: int, runs: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a pass rate (95% by default); ``(0, 1)`` when there are no runs."""
    if runs <= 0:
        return 0.0, 1.0
    p = passes / runs
    denom = 1 + z * z / runs
    centre = (p + z * z / (2 * runs)) / denom
    half = z * math.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0–100) by linear interpolation; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs (1.0 when there are none).

    Under the null hypothesis each discordant pair goes either way with probability 1/2, so the p-value is twice
    the binomial tail of the smaller count, capped at 1. Sums are exact integers until the last division.
    """
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1))
    return min(1.0, 2 * tail / (1 << n))


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided Fisher exact p-value of the 2x2 table ``[[a, b], [c, d]]`` (e.g. passes/fails before and after).

    The p-value sums the hypergeometric probabilities of every table with the same margins that is no more
    likely than the observed one (the usual two-sided definition, with a relative tolerance for ties).
    """
    row1, col1, total = a + b, a + c, a + b + c + d
    low, high = max(0, row1 + col1 - total), min(row1, col1)
    if low == high:
        return 1.0
    weights = [math.comb(col1, k) * math.comb(total - col1, row1 - k) for k in range(low, high + 1)]
    observed = weights[a - low]
    # integer weights: a tie is exact, but keep the customary tolerance for equality of probabilities
    tail = sum(w for w in weights if w <= observed * (1 + 1e-7))
    return min(1.0, tail / sum(weights))


RunCounts = tuple[int, int, int, int]
"""One sampled case in a base-versus-head comparison: (base passes, base runs, head passes, head runs)."""


def _rate(passes: int, runs: int) -> float:
    return passes / runs if runs else 0.0


def pooled_p(sampled: Sequence[RunCounts]) -> float | None:
    """Fisher's two-sided p-value of the sampled cases' pass counts pooled, base against head (``None``: none)."""
    if not sampled:
        return None
    base_passes, base_runs = sum(s[0] for s in sampled), sum(s[1] for s in sampled)
    head_passes, head_runs = sum(s[2] for s in sampled), sum(s[3] for s in sampled)
    return fisher_exact(base_passes, base_runs - base_passes, head_passes, head_runs - head_passes)


def significantly_worse(
    regressed: int, fixed: int, mcnemar_p: float, sampled: Sequence[RunCounts], sampled_p: float | None, alpha: float
) -> bool:
    """True when the head is worse and a test says so at ``alpha``.

    The tests: McNemar over the shared cases (``mcnemar_p``), the pooled pass counts of the sampled cases
    (``sampled_p``), or any sampled case on its own (Fisher).
    """
    if regressed > fixed and mcnemar_p < alpha:
        return True
    pooled_base = _rate(sum(s[0] for s in sampled), sum(s[1] for s in sampled))
    pooled_head = _rate(sum(s[2] for s in sampled), sum(s[3] for s in sampled))
    if sampled_p is not None and sampled_p < alpha and pooled_head < pooled_base:
        return True
    return any(
        fisher_exact(bp, br - bp, hp, hr - hp) < alpha and _rate(hp, hr) < _rate(bp, br) for bp, br, hp, hr in sampled
    )
