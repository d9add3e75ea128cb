"""The gate and the baseline of a pytest session, from the command line, the trusted policy and the config.

Trusted: ``--helm-eval-fail-on``, ``--helm-eval-min-pass-rate``, ``--helm-eval-baseline`` (workflow inputs) and
the policy's ``gate:`` and ``baseline:``. The project config (a pull request controls it) may only add reasons
to be red; its ``baseline:`` is shown in the reports but never lets a failing run pass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helm_eval.config import ConfigError, GateSpec
from helm_eval.ledger import ENV_POLICY, load_policy
from helm_eval.pipeline import RunSettings
from helm_eval.report import Gate


@dataclass(frozen=True, slots=True)
class SessionGate:
    """What the session's end needs: the gate, where the baseline is, and whether that place is trusted."""

    gate: Gate = field(default_factory=Gate)
    baseline: str | None = None
    """Resolved path (or glob) of the baseline run record."""
    shown: str = ""
    """The baseline as the user gave it, for reports."""
    trusted_baseline: bool = False
    alpha: float = 0.05
    configured: bool = False
    """False when nothing beyond pytest's own rule applies (then the exit status is left alone)."""
    history_runs: int = 10
    """How many recent runs per case the ledger's history looks at (0: none)."""


def session_gate(config: pytest.Config, settings: RunSettings) -> SessionGate:
    """Resolve the gate; raises ``HelmEvalError`` for a bad option or policy."""
    cli_rule = config.getoption("helm_eval_fail_on")
    cli_floor = config.getoption("helm_eval_min_pass_rate")
    if cli_floor is not None and cli_floor > 1:
        raise ConfigError(f"--helm-eval-min-pass-rate must be between 0 and 1, got {cli_floor:g}")
    policy, _ = load_policy(settings.budget.policy or os.environ.get(ENV_POLICY))
    trusted = policy.gate if policy is not None else GateSpec()
    project = settings.config.gate
    rules = (cli_rule or trusted.fail_on or "failure", *((project.fail_on,) if project.fail_on else ()))
    floors = [f for f in (cli_floor, trusted.min_pass_rate, project.min_pass_rate) if f is not None]
    suites = dict(trusted.suite_min_pass_rate)
    for suite, floor in project.suite_min_pass_rate.items():
        suites[suite] = max(floor, suites.get(suite, 0.0))
    gate = Gate(
        rules=rules,
        min_pass_rate=max(floors) if floors else None,
        suite_min_pass_rate=suites,
        trusted_quarantine=frozenset(trusted.quarantine),
        config_quarantine=frozenset(project.quarantine),
    )
    cwd = Path(config.invocation_params.dir)
    given, trusted_baseline = config.getoption("helm_eval_baseline"), True
    baseline: str | None = None
    if given:
        baseline = _under(cwd, given)
    elif policy is not None and policy.baseline:
        given = policy.baseline
        baseline = _under(cwd, given)
    elif settings.config.baseline:
        given, trusted_baseline = settings.config.baseline, False
        baseline = _under(settings.rootdir, given)
    configured = baseline is not None or rules != ("failure",) or gate.min_pass_rate is not None
    configured = configured or bool(suites or gate.trusted_quarantine or gate.config_quarantine)
    alpha = min(trusted.alpha, project.alpha)
    history_runs = config.getoption("helm_eval_history_runs")
    return SessionGate(gate, baseline, given or "", trusted_baseline, alpha, configured, history_runs)


def _under(base: Path, value: str) -> str:
    # a glob stays a pattern; only its directory part is anchored
    return value if Path(value).is_absolute() else str(base / value)
