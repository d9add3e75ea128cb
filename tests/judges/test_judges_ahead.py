"""Judges run ahead: a judge call is sent as soon as its case's output arrives, not when the verdict is taken.

The double answers every request after ``LATENCY`` seconds. Sent ahead, the judge calls of all cases are in
flight together (they reach the server within less than one latency); on the serial path (``judge.ahead:
false``) each is sent only once the previous case's verdict is in, one latency apart. Either way the verdicts,
the judge tokens and the ledger rows are the same.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from helm_eval.ledger import Ledger
from tests.judges.test_judges import rubric

LATENCY = 1.0
CASES = 4
SUITE = "\n".join(
    [
        "prompts: ['What is the capital of France? ({{n}})']",
        "tests:",
        *(
            f"  - {{id: c{i}, vars: {{n: {i}}}, assert: [{{type: llm-rubric, value: names Paris {i}}}]}}"
            for i in range(CASES)
        ),
    ]
)
VERDICT = '{"reason": "it names Paris", "pass": true, "score": 1.0}'


def rubric_requests(project: Any) -> list[Any]:
    return [r for r in project.chat_requests() if "<Rubric>" in r.body["messages"][-1]["content"]]


def judged_run(project: Any, ahead: bool) -> tuple[list[float], dict[str, Any]]:
    project.file("helm-eval.yaml", f"judge: {{ahead: {str(ahead).lower()}}}\n")
    project.suite("x.yaml", SUITE)
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(passed=CASES)
    arrivals = sorted(r.timestamp for r in project.chat_requests() if "<Rubric>" in r.body["messages"][-1]["content"])
    assert len(arrivals) == CASES
    return arrivals, project.record()


@pytest.mark.vllm_double(latency=LATENCY, rules=[(r"capital of France\? \(\d\)$", "Paris."), (r"<Rubric>", VERDICT)])
def test_judge_calls_go_out_together_as_soon_as_outputs_arrive(project: Any) -> None:
    arrivals, record = judged_run(project, ahead=True)
    assert arrivals[-1] - arrivals[0] < LATENCY, arrivals
    rows = Ledger(str(project.path / ".helm-eval" / "ledger.sqlite")).calls()
    judge_rows = [r for r in rows if r["kind"] == "judge"]
    assert sorted(r["case_id"] for r in judge_rows) == [f"c{i}" for i in range(CASES)]
    for case in record["cases"]:
        [row] = [r for r in judge_rows if r["case_id"] == case["nodeid"].split("::")[-1]]
        assert case["judge_tokens"] == row["tokens"] > 0
    assert len(rubric_requests(project)) == CASES


@pytest.mark.vllm_double(latency=LATENCY, rules=[(r"capital of France\? \(\d\)$", "Paris."), (r"<Rubric>", VERDICT)])
def test_serial_path_sends_each_judge_call_at_verdict_time(project: Any) -> None:
    arrivals, record = judged_run(project, ahead=False)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) >= LATENCY * 0.9, arrivals
    assert all(case["judge_tokens"] > 0 for case in record["cases"])


@pytest.mark.vllm_double(rules=rubric(VERDICT))
def test_judges_run_ahead_send_no_more_requests_than_the_serial_path(project: Any) -> None:
    project.suite(
        "x.yaml",
        """
        prompts: ["What is the capital of France?"]
        tests:
          - id: capital
            repeat: 2
            assert: [{type: llm-rubric, value: names Paris}, {type: not-llm-rubric, value: names Lyon}]
        """,
    )
    sent = []
    for ahead in ("true", "false"):
        project.file("helm-eval.yaml", f"judge: {{ahead: {ahead}}}\n")
        before = len(rubric_requests(project))
        project.run("--helm-eval-cache", "off").assert_outcomes(failed=1)  # the judge passes both rubrics
        sent.append(len(rubric_requests(project)) - before)
    # two runs x two rubrics: the same output and rubric in both runs is one request sent ahead, and the second
    # verdict sends its own, as on the serial path
    assert sent == [4, 4]
