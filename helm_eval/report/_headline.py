"""The one-line headline of a base-versus-head comparison, from its figures alone.

Kept apart from ``Comparison`` so a merge of shard records (which carry the figures, not the comparison) words it
the same way.
"""

from __future__ import annotations


def plural(count: int, one: str, many: str) -> str:
    """``1 fix``, ``2 fixes``."""
    return f"{count} {one if count == 1 else many}"


def p_text(p: float) -> str:
    """A p-value with two significant decimals (``0.50``, ``0.0020``)."""
    return f"{p:.2f}" if p >= 0.01 else f"{p:.2g}"


def percent_change(change: float | None) -> str:
    """``+12%``, or nothing when unknown."""
    return "" if change is None else f"{change:+.0%}"


def rate_text(rate: float | None) -> str:
    """``95.0%``, or ``–`` when nothing was judged."""
    return "–" if rate is None else f"{rate:.1%}"


def headline(
    regressed: int,
    fixed: int,
    base_rate: float | None,
    head_rate: float | None,
    mcnemar_p: float,
    *,
    significant: bool,
    sampled_p: float | None,
    tokens_change: float | None,
) -> str:
    """E.g. ``2 regressions, 1 fix · pass rate 95.0% → 92.5% (McNemar p = 0.50) · tokens +12%``."""
    parts = [f"{plural(regressed, 'regression', 'regressions')}, {plural(fixed, 'fix', 'fixes')}"]
    verdict = " significant" if significant else ""
    rates = f"{rate_text(base_rate)} → {rate_text(head_rate)}"
    parts.append(f"pass rate {rates} (McNemar p = {p_text(mcnemar_p)}{verdict})")
    if sampled_p is not None:
        parts.append(f"sampled cases p = {p_text(sampled_p)}")
    tokens = percent_change(tokens_change)
    if tokens:
        parts.append(f"tokens {tokens}")
    return " · ".join(parts)
