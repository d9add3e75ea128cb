"""Every error helm-eval raises on purpose, in one tree.

Each prints as one line that names the culprit (a file and line, a flag, a URL with its password redacted) and
the fix; none of them is shown with a traceback. pytest shows them as usage errors (exit status 4) when the
session cannot start, or as the error of the one case they concern; the ``helm-eval`` command prints them
and exits 2.

::

    HelmEvalError                 base; "helm-eval: <message>"
    ├── ConfigError               a config file, policy or command-line option is invalid
    │   └── SuiteError            a suite or config file is malformed at path:line
    ├── SetupError                the environment cannot give what the run needs
    │   ├── LedgerError           the ledger cannot be opened, read or migrated (bad URL, PostgreSQL down)
    │   ├── StorageError          a cache, report or run-record path cannot be written
    │   └── MissingExtraError     an optional dependency is not installed (names the extra to install)
    ├── EndpointError             an endpoint is unreachable or does not serve the model asked for
    ├── BudgetCut                 the budget did not admit a case or call (structured: the ``Denial``)
    ├── InputBlocked              input guardrails stopped a call (helm_eval.checks; carries the findings)
    └── CheckError                a check could not reach a verdict (helm_eval.checks)

``InputBlocked`` and ``CheckError`` live with the checks that raise them; the rest live here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class HelmEvalError(Exception):
    """Base of every error helm-eval raises on purpose; printed without a traceback."""


class ConfigError(HelmEvalError):
    """The project configuration, the policy or a command-line option is invalid."""


class SuiteError(ConfigError):
    """A suite or config file is malformed; carries the file and 1-based line of the culprit."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


class SetupError(HelmEvalError):
    """The environment cannot give what the run needs (a store, a file, a package)."""


class LedgerError(SetupError):
    """The ledger cannot be opened, read or migrated; the message carries its URL with the password redacted."""


class StorageError(SetupError):
    """A file helm-eval must write (response cache, run record, report) cannot be written."""


class MissingExtraError(SetupError):
    """An optional dependency is not installed; the message names the ``pip install`` that adds it."""

    def __init__(self, what: str, extra: str, package: str) -> None:
        self.extra = extra
        self.package = package
        super().__init__(f"{what} needs the {package!r} package: pip install 'helm-eval[{extra}]'")


class EndpointError(HelmEvalError):
    """An endpoint is unreachable, or does not serve the model asked for."""


class BudgetCut(HelmEvalError):
    """The budget did not admit a case (or one of its calls); it is skipped with the reason, never failed.

    ``denial`` is the structured reason (scope, unit, need, use, limit, source); its text is the message.
    """

    def __init__(self, denial: Any) -> None:
        super().__init__(f"budget: {denial}")
        self.denial = denial


class Unavailable(EndpointError):
    """None of a case's endpoints (its own and their fallbacks) could answer, under ``on_unavailable: skip``.

    Such a case is skipped with this reason rather than made an error.
    """
