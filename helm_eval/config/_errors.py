"""Errors for user mistakes in suites and configuration: one line, the file and line first, no traceback."""

from __future__ import annotations

from pathlib import Path


class HelmEvalError(Exception):
    """Base of every error helm-eval raises on purpose; printed without a traceback."""


class SuiteError(HelmEvalError):
    """A suite or config file is malformed; carries the file and 1-based line of the culprit."""

    def __init__(self, path: str | Path, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


class ConfigError(HelmEvalError):
    """The project configuration or a command-line option is invalid."""
