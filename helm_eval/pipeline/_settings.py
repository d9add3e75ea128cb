"""What a run is told before it starts: the project config plus the trusted options given beside it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from helm_eval.collect import MatrixOptions, Shard
from helm_eval.config import (
    CONFIG_FILENAMES,
    DEFAULT_ENDPOINT_NAME,
    ProjectConfig,
    find_config_file,
    load_project_config,
)
from helm_eval.plan import Overrides


@dataclass(slots=True)
class BudgetOptions:
    """Budget, ledger and cache settings from the command line or action inputs (trusted, like the policy)."""

    tokens: int | None = None
    usd: float | None = None
    scope: str = "pull_request"
    on_exhausted: str | None = None
    policy: str | None = None
    ledger: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    cache: str | None = None


@dataclass(slots=True)
class RunSettings:
    """Everything a ``Pipeline`` needs to know before it starts; built by the pytest adapter or by hand."""

    config: ProjectConfig = field(default_factory=ProjectConfig)
    config_path: Path | None = None
    overrides: Overrides = field(default_factory=Overrides)
    rootdir: Path = field(default_factory=Path.cwd)
    report_path: Path | None = None
    html_path: Path | None = None
    """Where the pytest adapter writes the HTML report; the pipeline itself writes no report."""
    retries: int | None = None
    """``None``: the config's ``retries``."""
    budget: BudgetOptions = field(default_factory=BudgetOptions)
    suite_paths: set[Path] = field(default_factory=set)
    """Resolved files matched by the config's ``suites`` globs."""
    shard: Shard | None = None
    """Run only this shard of the cases (``--helm-eval-shard``); ``None``: all of them."""
    model_matrix: tuple[str, ...] = ()
    """Models every case runs against (``--helm-eval-model a,b``), over the suites' and config's ``models``."""

    @classmethod
    def load(cls, rootdir: Path | str = ".", config: Path | str | None = None, **changes: object) -> RunSettings:
        """Settings for a script: the config file found at ``rootdir`` (or ``config``), then ``changes``."""
        root = Path(rootdir).resolve()
        path = Path(config) if config is not None else find_config_file(root)
        if path is not None and not path.is_absolute():
            path = root / path
        project = load_project_config(path, root)
        settings = cls(config=project, config_path=path, rootdir=root)
        settings.suite_paths = settings.glob_suites()
        return dataclasses.replace(settings, **changes)  # type: ignore[arg-type]

    @property
    def max_retries(self) -> int:
        """Retries per call: the option when given, else the config's."""
        return self.config.retries if self.retries is None else self.retries

    @property
    def config_source(self) -> str:
        """How reports name the project config (``helm-eval.yaml``, ``pyproject.toml``, or ``config``)."""
        return self.config_path.name if self.config_path else "config"

    def matrix(self) -> MatrixOptions:
        """The model matrix options suites are loaded with."""
        urls = {spec.url.rstrip("/"): name for name, spec in self.config.endpoints.items()}
        if self.overrides.endpoint:
            urls[self.overrides.endpoint.rstrip("/")] = self.config.default_endpoint or next(
                iter(self.config.endpoints), DEFAULT_ENDPOINT_NAME
            )
        return MatrixOptions(self.config.models, self.model_matrix, self.config.provider_map, urls)

    def glob_suites(self) -> set[Path]:
        """The files the config's ``suites`` globs match under the rootdir; a project config file is never a suite."""
        return {
            p.resolve()
            for pattern in self.config.suites
            for p in self.rootdir.glob(pattern)
            if p.is_file() and p.name not in CONFIG_FILENAMES
        }

    def display_path(self, path: Path) -> str:
        """``path`` relative to the rootdir with forward slashes (how suites are named everywhere)."""
        try:
            return path.resolve().relative_to(self.rootdir.resolve()).as_posix()
        except ValueError:
            return path.as_posix()
