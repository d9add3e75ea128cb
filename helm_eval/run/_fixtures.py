"""The ``helm_model`` fixture: model calls from hand-written tests, through the same dispatch and accounting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from helm_eval._records import Call, Case, CaseResult, Outcome
from helm_eval._text import excerpt
from helm_eval.checks import InputBlocked, scan_texts, unknown_allowances
from helm_eval.collect import MAX_CASE_CHARS
from helm_eval.config import BudgetCut, HelmEvalError, Options
from helm_eval.pipeline import OUTPUT_EXCERPT, Pipeline
from helm_eval.run._keys import PYTHON_CALLS_KEY, SESSION_KEY


class ModelCallError(Exception):
    """A call made through ``helm_model`` failed for good (after retries)."""


class HelmModel:
    """Calls the configured model from a Python test; every call is recorded in the run record and JUnit."""

    def __init__(self, pipeline: Pipeline, item: pytest.Item) -> None:
        self._pipeline = pipeline
        self._item = item

    def chat(
        self,
        prompt: str | Sequence[dict[str, str]],
        *,
        system: str | None = None,
        endpoint: str | None = None,
        model: str | None = None,
        allow_inputs: Sequence[str] = (),
        **options: Any,
    ) -> Outcome:
        """Send a prompt (or a list of chat messages) and return the ``Outcome``.

        ``options`` are sampling parameters (``temperature``, ``max_tokens``, ``seed``, ``stop``, ...) merged
        over the project's defaults. Raises ``ModelCallError`` when the call fails after retries, and
        ``InputBlocked`` (sending nothing) when the messages contain secrets or personal data, unless
        ``allow_inputs`` names their family (``pii``, ``secrets``) or entity type (``email``, ...).
        """
        messages: list[dict[str, str]] = [{"role": "system", "content": system}] if system else []
        if isinstance(prompt, str):
            messages.append({"role": "user", "content": prompt})
        else:
            messages.extend(dict(m) for m in prompt)
        _guard_inputs(messages, allow_inputs)
        params = self._pipeline.settings.config.options.model_dump(exclude_none=True)
        params.update(Options.model_validate(options).model_dump(exclude_none=True))
        planner = self._pipeline.planner
        name = endpoint or planner.default
        if name not in planner.endpoints:
            raise ValueError(f"unknown endpoint {name!r} (configured: {', '.join(sorted(planner.endpoints))})")
        target = planner.endpoints[name]
        resolved = model or target.model
        if resolved is None:
            raise ValueError(f"no model for endpoint {name!r}")
        path, line, _ = self._item.location
        case = Case(
            id=self._item.nodeid,
            file=path,
            line=(line or 0) + 1,
            messages=tuple(messages),
            options=params,
            assertions=(),
            metadata=_marker_metadata(self._item),
        )
        call = Call(name, target.base_url, resolved, tuple(messages), params, case_id=self._item.nodeid, suite=path)
        try:
            outcome = self._pipeline.call(call, case)
        except BudgetCut as cut:
            pytest.skip(str(cut))
        self._item.stash.setdefault(PYTHON_CALLS_KEY, []).append(outcome)
        if outcome.error:
            error = self._pipeline.redactor.scrub(outcome.error)
            raise ModelCallError(f"call to endpoint {name!r} ({target.base_url}) failed: {error}")
        return outcome

    __call__ = chat


def _guard_inputs(messages: list[dict[str, str]], allow: Sequence[str]) -> None:
    """Input guardrails for a Python test's call: a secret or personal data in the messages stops it unsent."""
    if isinstance(allow, str):
        allow = [allow]
    unknown = unknown_allowances(allow)
    if unknown:
        raise ValueError(f"allow_inputs: unknown name {unknown[0]!r}; use pii, secrets or an entity type")
    size = sum(len(str(m.get("content", ""))) for m in messages)
    if size > MAX_CASE_CHARS:  # the same bound as a suite case: the scan below must not run for minutes
        raise ValueError(
            f"helm_model: the messages hold {size:,} characters; a call may send at most {MAX_CASE_CHARS:,}"
        )
    texts = ((f"messages[{i}] ({m.get('role', '?')})", str(m.get("content", ""))) for i, m in enumerate(messages))
    findings = scan_texts(texts, allow)
    if findings:
        raise InputBlocked(findings, how_to_allow="helm_model(..., allow_inputs=[{}])")


def _marker_metadata(item: pytest.Item) -> dict[str, Any]:
    """``@pytest.mark.helm_eval(owner="team-x", priority=5)`` on a test: attribution and priority."""
    marker = item.get_closest_marker("helm_eval")
    return dict(marker.kwargs) if marker is not None else {}


def python_result(item: pytest.Item, outcomes: list[Outcome], pipeline: Pipeline) -> CaseResult:
    """The run-record entry of a Python test that used the ``helm_model`` fixture (output scrubbed, cost added)."""
    path, line, _ = item.location
    entry = CaseResult.from_outcomes(
        item.nodeid,
        path,
        None if line is None else line + 1,
        outcomes,
        kind="python",
        repeats=len(outcomes),
        output=excerpt(outcomes[-1].text, OUTPUT_EXCERPT),
    )
    entry.output = pipeline.redactor.scrub(entry.output)
    entry.cost_usd = pipeline.recorder.case_cost(outcomes)
    return entry


def make_helm_model(request: pytest.FixtureRequest) -> HelmModel:
    """The ``helm_model`` fixture's value; skips the test unless pytest runs with ``--helm-eval``."""
    session = request.config.stash.get(SESSION_KEY, None)
    if session is None:
        pytest.skip("helm-eval is off: run pytest with --helm-eval to call models")
    try:
        session.pipeline.dispatcher()  # checks the endpoints (and discovers the model) once per session
    except HelmEvalError as exc:
        pytest.fail(f"helm-eval: {exc}", pytrace=False)
    return HelmModel(session.pipeline, request.node)
