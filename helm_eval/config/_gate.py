"""What turns the check red: the gate, from trusted places (command line, policy) and the project config.

The config may only add reasons to be red: the check is red when the trusted ``fail_on`` or the config's finds
it red, the higher of each ``min_pass_rate`` binds, and the config's quarantine cannot hide a regression.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from helm_eval.config._suite import _Strict

GateRule = Literal["failure", "regression", "significant"]
GATE_RULES: tuple[GateRule, ...] = ("failure", "regression", "significant")


class GateSpec(_Strict):
    """When a run's check is red (``gate:`` in helm-eval.yaml or in a trusted policy)."""

    fail_on: GateRule | None = None
    """``failure``: any failed or errored case (pytest's own rule, the default); ``regression``: only new failures
    against the baseline (cases that passed there, or new cases); ``significant``: only a drop the exact tests
    find significant. Without a trusted baseline every rule acts as ``failure``. In a project config this can
    only make the trusted rule stricter."""
    min_pass_rate: float | None = Field(default=None, ge=0, le=1)
    """Lowest pass rate (passed over passed + failed + errored) the whole run may have; the higher of the trusted
    and the project value binds."""
    suite_min_pass_rate: dict[str, float] = Field(default_factory=dict)
    """Suite file (as reports name it, e.g. ``suites/qa.yaml``) → lowest pass rate of that suite."""
    alpha: float = Field(default=0.05, gt=0, lt=1)
    """Significance level for ``significant`` (the lower of trusted and project values binds)."""
    quarantine: list[str] = Field(default_factory=list)
    """Node ids of known-flaky cases: they run and are reported but do not fail the check -- unless they passed
    in a trusted baseline and fail now (a quarantine cannot hide a regression)."""
