"""Where budgets, prices and the ledger come from: trusted policy, command line, project config."""

from __future__ import annotations

import tempfile
from pathlib import Path

from helm_eval.config import BudgetSpec, HelmEvalError, Limit, PolicyConfig, ProjectConfig, load_yaml, validate
from helm_eval.ledger._budget import BudgetPlan, bind
from helm_eval.ledger._cost import CostModel

ENV_POLICY = "HELM_EVAL_POLICY"


def load_policy(path: str | None) -> tuple[PolicyConfig | None, str]:
    """The trusted policy file (relative paths from the current directory) and how reports name it."""
    if not path:
        return None, ""
    file = Path(path)
    if not file.is_absolute():
        file = Path.cwd() / file
    if not file.is_file():
        raise HelmEvalError(f"policy file not found: {path}")
    return validate(PolicyConfig, load_yaml(file, path) or {}, path), f"policy {path}"


def cli_budget(
    tokens: int | None, usd: float | None, scope: str = "pull_request", on_exhausted: str | None = None
) -> BudgetSpec | None:
    """The budget given on the command line (a trusted source), or ``None`` when none was given."""
    if tokens is None and usd is None and on_exhausted is None:
        return None
    limit = Limit(tokens=tokens, usd=usd) if tokens is not None or usd is not None else None
    return BudgetSpec.model_validate({scope: limit, "on_exhausted": on_exhausted})


def budget_plan(
    config: ProjectConfig, config_source: str, policy: tuple[PolicyConfig | None, str], cli: BudgetSpec | None
) -> BudgetPlan:
    """The caps that bind: the lowest of policy and command line, lowered (never raised) by the config."""
    trusted: list[tuple[BudgetSpec, str]] = []
    if policy[0] is not None:
        trusted.append((policy[0].budget, policy[1]))
    if cli is not None:
        trusted.append((cli, "command line"))
    return bind(trusted, config.budget, config_source)


def cost_model(config: ProjectConfig, policy: PolicyConfig | None, *, trusted: bool = False) -> CostModel:
    """Token prices: the config's, or under a trusted policy or command-line budget the policy's alone.

    A pull request controls its config, so under a trusted source its prices (0, or none) could defeat a USD
    cap; GPU-hour prices only share cost out after the run and are read from the config either way.
    """
    if trusted:
        model_prices = dict(policy.prices) if policy else {}
        endpoint_prices = {}
    else:
        model_prices = {**config.prices, **(policy.prices if policy else {})}
        endpoint_prices = {n: e.price for n, e in config.endpoints.items() if e.price is not None}
    return CostModel(
        model_prices=model_prices,
        endpoint_prices=endpoint_prices,
        gpu_hourly_usd={n: e.gpu_hourly_usd for n, e in config.endpoints.items() if e.gpu_hourly_usd},
    )


def trusted_ledger(cli: str | None, policy: PolicyConfig | None, config: ProjectConfig, trusted: bool) -> str | None:
    """The ledger setting that applies: the command line, then the policy, then (untrusted runs only) the config.

    A pull request's ``ledger: off`` must not reset what its pushes have spent.
    """
    if cli:
        return cli
    if policy is not None and policy.ledger:
        return policy.ledger
    return None if trusted else config.ledger


def ledger_url(value: str | None, rootdir: Path) -> str:
    """The ledger to use: default ``.helm-eval/ledger.sqlite`` under the rootdir; ``off`` keeps nothing."""
    if value in (None, ""):
        return str(rootdir / ".helm-eval" / "ledger.sqlite")
    assert value is not None
    if value == "off":
        return str(Path(tempfile.mkdtemp(prefix="helm-eval-ledger-")) / "ledger.sqlite")
    if value.startswith(("postgresql://", "postgres://")):
        return value
    path = Path(value)
    return str(path if path.is_absolute() else rootdir / path)
