"""Getting calls out early: warming up asks the endpoints ahead; a large batch without a budget goes in chunks."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.vllm_double import VLLMDouble
from helm_eval.collect import load_suite
from helm_eval.config import EndpointError
from helm_eval.pipeline import Pipeline, RunSettings
from helm_eval.plan import Overrides


def _suite(tmp_path: Path, n: int, urgent: int, budget: str = "") -> list:  # type: ignore[type-arg]
    lines = ["prompts: ['{{q}}']", "defaultTest: {options: {max_tokens: 4}}", "tests:"]
    for i in range(n):
        priority = ", priority: 5" if i == urgent else ""
        lines.append(f"  - {{id: c{i}, vars: {{q: 'question {i}'}}, assert: [{{type: contains, value: x}}]{priority}}}")
    (tmp_path / "suite.yaml").write_text("\n".join(lines) + "\n")
    (tmp_path / "helm-eval.yaml").write_text(f"suites: [suite.yaml]\ncache: 'off'\n{budget}")
    settings = RunSettings.load(tmp_path)
    return load_suite(tmp_path / "suite.yaml", "suite.yaml", settings.config.options)


@pytest.mark.vllm_double(capacity=1, latency=0.01)
@pytest.mark.parametrize("budget", ["", "budget:\n  run: {tokens: 100000}\n"], ids=["no budget", "budget"])
def test_a_large_batch_is_sent_once_each_highest_priority_first(
    tmp_path: Path, vllm_double: VLLMDouble, budget: str
) -> None:
    n, urgent = 200, 150  # beyond the first chunks: the urgent case sits in a later one in file order
    cases = _suite(tmp_path, n, urgent, budget)
    settings = RunSettings.load(tmp_path, overrides=Overrides(endpoint=vllm_double.base_url, concurrency=1))
    settings.budget.ledger = str(tmp_path / "ledger.sqlite")
    with Pipeline(settings) as pipeline:
        pipeline.submit(cases)
        for case in cases:
            assert len(pipeline.outcomes(case)) == 1
    sent = [r.body["messages"][0]["content"] for r in vllm_double.requests if r.path.endswith("/completions")]
    assert sent[0] == f"question {urgent}"
    assert sent[1:] == [f"question {i}" for i in range(n) if i != urgent]


def _models_asked(double: VLLMDouble) -> int:
    return sum(1 for r in double.requests if r.path.endswith("/models"))


@pytest.mark.vllm_double(latency=0.01)
def test_warming_up_asks_the_endpoints_ahead_and_the_first_plan_uses_that_answer(
    tmp_path: Path, vllm_double: VLLMDouble
) -> None:
    cases = _suite(tmp_path, 3, 0)
    settings = RunSettings.load(tmp_path, overrides=Overrides(endpoint=vllm_double.base_url))
    settings.budget.ledger = str(tmp_path / "ledger.sqlite")
    with Pipeline(settings) as pipeline:
        pipeline.warm_up()
        assert pipeline.connection.started is not None
        _wait_for(lambda: _models_asked(vllm_double) == 1)
        pipeline.submit(cases)
        assert [len(pipeline.outcomes(case)) for case in cases] == [1, 1, 1]
    assert _models_asked(vllm_double) == 1  # checked once: the answer asked ahead
    assert pipeline.endpoints["default"].model == "double-model"  # the model the server named


@pytest.mark.vllm_double(latency=0.01)
def test_a_warm_up_without_probing_asks_nothing_until_the_first_plan(tmp_path: Path, vllm_double: VLLMDouble) -> None:
    cases = _suite(tmp_path, 1, 0)
    settings = RunSettings.load(tmp_path, overrides=Overrides(endpoint=vllm_double.base_url))
    settings.budget.ledger = str(tmp_path / "ledger.sqlite")
    with Pipeline(settings) as pipeline:
        pipeline.warm_up(probe=False)  # e.g. the vLLM server this run starts is not up yet
        time.sleep(0.3)
        assert vllm_double.requests == []
        pipeline.submit(cases)
        assert len(pipeline.outcomes(cases[0])) == 1
    assert _models_asked(vllm_double) == 1


def test_an_endpoint_down_at_warm_up_is_the_usual_error_when_the_first_call_is_planned(tmp_path: Path) -> None:
    cases = _suite(tmp_path, 1, 0)
    settings = RunSettings.load(tmp_path, overrides=Overrides(endpoint="http://127.0.0.1:9/v1"))
    settings.budget.ledger = str(tmp_path / "ledger.sqlite")
    with Pipeline(settings) as pipeline:
        pipeline.warm_up()  # no error here: nothing may be planned at all (every case deselected)
        with pytest.raises(EndpointError, match=r"endpoint 'default' at http://127\.0\.0\.1:9/v1 is unreachable"):
            pipeline.submit(cases)


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
