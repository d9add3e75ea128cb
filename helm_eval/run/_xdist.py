"""What the pytest-xdist controller and its workers share: one run, one ledger, one served endpoint, notices.

The controller hands each worker its run id, ledger and (with ``--helm-eval-serve``) the server's address in
``workerinput``, so a budget binds the whole run and workers start no vLLM of their own; a worker hands back what
it noticed while collecting in ``workeroutput``. Every key is named here, nowhere else.
"""

from __future__ import annotations

from typing import Any

import pytest

from helm_eval.pipeline import Pipeline, RunSettings
from helm_eval.run._server import point_at

_RUN_ID = "helm_eval_run_id"
_LEDGER = "helm_eval_ledger"
_ENDPOINT = "helm_eval_endpoint"
_MODEL = "helm_eval_model"
_NOTICES = "helm_eval_notices"


def is_worker(config: pytest.Config) -> bool:
    """True in a pytest-xdist worker."""
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """True in the pytest-xdist controller (``-n``), which runs no items itself."""
    return not is_worker(config) and config.pluginmanager.has_plugin("dsession")


def join_controller(config: pytest.Config, settings: RunSettings) -> str | None:
    """In a worker: use the controller's served endpoint and ledger; returns the run id to join (else ``None``)."""
    shared: dict[str, Any] = getattr(config, "workerinput", {})
    if shared.get(_ENDPOINT):  # the controller started vLLM (--helm-eval-serve); workers use it
        point_at(settings, shared[_ENDPOINT], shared.get(_MODEL))
    if shared.get(_LEDGER):  # one ledger for all workers (also with ledger off): one budget
        settings.budget.ledger = shared[_LEDGER]
    run_id: str | None = shared.get(_RUN_ID)
    return run_id


def share_with_worker(node: Any, pipeline: Pipeline, endpoint: str | None) -> None:
    """In the controller, for each worker it starts: this run's id, its ledger and the served endpoint."""
    node.workerinput[_RUN_ID] = pipeline.run_id
    node.workerinput[_LEDGER] = pipeline.ledger.url
    if endpoint is not None:
        node.workerinput[_ENDPOINT] = endpoint
        node.workerinput[_MODEL] = pipeline.settings.overrides.model


def hand_back_notices(config: pytest.Config, pipeline: Pipeline) -> None:
    """In a worker at its session's end: what it noticed while collecting (a YAML file that is not a suite)."""
    config.workeroutput[_NOTICES] = list(pipeline.notices)  # type: ignore[attr-defined]


def take_notices(node: Any, pipeline: Pipeline) -> None:
    """In the controller when a worker is done: add the notices it handed back, each once."""
    output = getattr(node, "workeroutput", None) or {}
    for notice in output.get(_NOTICES, []):
        if isinstance(notice, str) and notice not in pipeline.notices:
            pipeline.notices.append(notice)
