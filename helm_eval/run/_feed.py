"""Cases on their way from pytest's collection to the pipeline.

A suite's calls go out as soon as its file is collected when nothing can deselect them afterwards; otherwise, and
for whatever was not sent yet, when collection ends, in collection order. Cases sent ahead that were deselected
after all are forgotten (their calls cancelled). ``--helm-eval-shard`` deselects the other shards' items.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from helm_eval._records import Case
from helm_eval.collect import Shard
from helm_eval.config import HelmEvalError
from helm_eval.pipeline import Pipeline, case_key
from helm_eval.run._items import CaseItem


class CaseFeed:
    """Sends the collected cases to the pipeline: ahead while collecting when it can, the rest at the end."""

    def __init__(self, config: pytest.Config, pipeline: Pipeline, *, worker: bool) -> None:
        self.pipeline = pipeline
        self._worker = worker
        self._early: list[Case] = []
        self._send_early = not worker and _selection_known_while_collecting(config, pipeline)

    def send_early(self, cases: Sequence[Case], session: pytest.Session) -> None:
        """Send a suite's calls as soon as it is collected, when nothing can deselect them afterwards.

        Not once a collection error has happened: pytest will stop after collecting, and such a run must not
        spend anything.
        """
        if session.testsfailed and not session.config.option.continue_on_collection_errors:
            self._send_early = False
        shard = self.pipeline.settings.shard
        if shard is not None:
            cases = [case for case in cases if shard.holds(case_key(case))]
        if not self._send_early or not cases:
            return
        try:
            self.pipeline.submit(cases)
        except HelmEvalError:
            self._send_early = False  # the same error is raised, once, when collection ends
            return
        self._early.extend(cases)

    def selected(self, session: pytest.Session) -> tuple[list[CaseItem], int] | None:
        """The selected suite cases and how many items call a model (cases and ``helm_model`` tests).

        Cases sent ahead but deselected are forgotten. ``None``, with every queued call cancelled, when nothing
        will be sent: no such item, ``--collect-only``, or a collection error that stops pytest.
        """
        items = [item for item in session.items if isinstance(item, CaseItem)]
        if self._early:
            selected = {id(item.case) for item in items}
            self.pipeline.forget(case for case in self._early if id(case) not in selected)
            self._early = []
        uses_model = sum(1 for item in session.items if "helm_model" in getattr(item, "fixturenames", ()))
        if not (items or uses_model) or not _will_run(session):
            self.pipeline.cancel_pending()
            return None
        return items, len(items) + uses_model

    def send(self, items: list[CaseItem]) -> None:
        """Check the endpoints and send every selected case not sent yet, in collection order.

        xdist workers collect every item but run only those the controller hands them, so there each item
        submits its own calls when it starts. A failed endpoint check ends the run as a usage error, except in a
        worker (``pytest.exit`` there crashes the controller), where each item reports the error.
        """
        try:
            self.pipeline.dispatcher()
            if not self._worker:
                self.pipeline.submit([item.case for item in items])
        except HelmEvalError as exc:
            if self._worker:
                return
            pytest.exit(f"helm-eval: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)


def deselect_other_shards(config: pytest.Config, items: list[pytest.Item], shard: Shard) -> None:
    """Deselect every item of the other shards (suite cases and Python tests), in place.

    pytest-xdist workers each collect and deselect alike (the split depends on node ids only).
    """
    keep: list[pytest.Item] = []
    other: list[pytest.Item] = []
    for item in items:
        (keep if shard.holds(item.nodeid) else other).append(item)
    if other:
        config.hook.pytest_deselected(items=other)
        items[:] = keep


def _selection_known_while_collecting(config: pytest.Config, pipeline: Pipeline) -> bool:
    """True when every collected case will run, so its calls can go out before collection ends.

    Not when an option deselects after collection (``-k``, ``-m``, ``--deselect``, ``--lf``, ``--sw``), when
    nothing will run (``--collect-only``), or when a budget must admit all cases together in priority order.
    """
    option = config.option
    deselecting = (
        getattr(option, "keyword", "")
        or getattr(option, "markexpr", "")
        or getattr(option, "deselect", None)
        or getattr(option, "lf", False)
        or getattr(option, "stepwise", False)
        or getattr(option, "collectonly", False)
    )
    return not deselecting and pipeline.budget is None


def _will_run(session: pytest.Session) -> bool:
    """False when pytest stops after collection (``--collect-only``, or collection errors): nothing to send."""
    option = session.config.option
    if option.collectonly:
        return False
    return not (session.testsfailed and not option.continue_on_collection_errors)
