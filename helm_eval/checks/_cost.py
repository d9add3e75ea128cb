"""``cost``: the case's calls cost at most a given number of US dollars (promptfoo's meaning, per run)."""

from __future__ import annotations

from typing import Any

from helm_eval.checks._registry import CheckInput, CheckOutput, register
from helm_eval.checks._types import CheckError


def _ceiling(value: Any, threshold: float | None) -> None:
    if threshold is None or threshold < 0:
        raise ValueError("set threshold to the most US dollars the call may cost, e.g. threshold: 0.002")


@register("cost", value="none", validate=_ceiling)
def cost(check: CheckInput) -> CheckOutput:
    """The call (every turn of a conversation) cost at most ``threshold`` USD, priced from the endpoint's prices.

    A cache hit costs 0. An endpoint priced by GPU-hours has no per-call price until the run ends: that is an
    error, not a pass.
    """
    if check.cost_usd is None:
        raise CheckError("no per-token price is known for this endpoint (set prices or the endpoint's price)")
    limit = float(check.threshold or 0.0)
    return CheckOutput(check.cost_usd <= limit + 1e-15, f"cost ${check.cost_usd:.6f} (ceiling ${limit:g})")
