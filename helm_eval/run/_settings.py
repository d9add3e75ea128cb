"""Settings for one pytest session: the config file merged with the ``--helm-eval-*`` options."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helm_eval.collect import ENV_SHARD, Shard
from helm_eval.config import ConfigError, find_config_file, load_project_config
from helm_eval.ledger import parse_label_options
from helm_eval.pipeline import BudgetOptions, RunSettings
from helm_eval.plan import Overrides


def settings_from_pytest(config: pytest.Config) -> RunSettings:
    """Read the config file and the ``--helm-eval-*`` options; raises ``HelmEvalError`` on bad input."""
    rootdir = Path(config.rootpath)
    cwd = Path(config.invocation_params.dir)
    explicit = config.getoption("helm_eval_config")
    path = Path(explicit) if explicit else find_config_file(rootdir)
    if path is not None and not path.is_absolute():
        path = cwd / path
    project = load_project_config(path, rootdir)
    # --helm-eval-report is relative to where pytest runs; the config file's report to the rootdir, like suites
    report = _under(cwd, config.getoption("helm_eval_report")) or _under(rootdir, project.report)
    html = _under(cwd, config.getoption("helm_eval_html")) or _under(rootdir, project.html)
    try:
        labels = parse_label_options(config.getoption("helm_eval_label"))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    model = config.getoption("helm_eval_model")
    matrix = tuple(m.strip() for m in model.split(",") if m.strip()) if model and "," in model else ()
    settings = RunSettings(
        config=project,
        config_path=path,
        overrides=Overrides(
            endpoint=config.getoption("helm_eval_endpoint"),
            model=matrix[0] if matrix else model,  # the endpoint needs one; each case names its own
            concurrency=config.getoption("helm_eval_concurrency"),
            timeout=config.getoption("helm_eval_timeout"),
        ),
        rootdir=rootdir,
        report_path=report,
        html_path=html,
        retries=config.getoption("helm_eval_retries"),
        budget=BudgetOptions(
            tokens=config.getoption("helm_eval_budget_tokens"),
            usd=config.getoption("helm_eval_budget_usd"),
            scope=config.getoption("helm_eval_budget_scope"),
            on_exhausted=config.getoption("helm_eval_on_exhausted"),
            policy=config.getoption("helm_eval_policy"),
            ledger=config.getoption("helm_eval_ledger"),
            labels=labels,
            cache=config.getoption("helm_eval_cache"),
        ),
    )
    settings.suite_paths = settings.glob_suites()
    settings.shard = _shard(config)
    settings.model_matrix = matrix
    return settings


def _shard(config: pytest.Config) -> Shard | None:
    """``--helm-eval-shard``, else ``HELM_EVAL_SHARD``.

    Not a config-file key: a pull request edits that file, and must not be able to run a share of its cases and
    call the check green.
    """
    shard: Shard | None = config.getoption("helm_eval_shard")
    if shard is not None:
        return shard
    text = os.environ.get(ENV_SHARD, "").strip()
    if not text:
        return None
    try:
        return Shard.parse(text)
    except ValueError as exc:
        raise ConfigError(f"{ENV_SHARD} {exc}") from None


def _under(base: Path, value: str | None) -> Path | None:
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else base / path
