"""Per-run state in ``config.stash`` and ``item.stash`` (never module globals)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import pytest

from helm_eval._records import Case, CaseResult, Outcome
from helm_eval.pipeline import Pipeline, RunSettings


class Session(Protocol):
    """What suite nodes and fixtures use of the session's hook object."""

    settings: RunSettings
    pipeline: Pipeline

    def send_early(self, cases: Sequence[Case], session: pytest.Session) -> None:
        """Send a collected suite's calls now, when nothing can deselect them later."""
        ...


SESSION_KEY = pytest.StashKey[Session]()
"""The session's hook object (and through it, the pipeline)."""
RESULT_KEY = pytest.StashKey[CaseResult]()
"""An item's run-record entry, set while it runs."""
PYTHON_CALLS_KEY = pytest.StashKey[list[Outcome]]()
"""Outcomes of the ``helm_model`` calls a Python test made."""
MARKERS_KEY = pytest.StashKey[set[str]]()
"""Suite tags already registered as markers."""
