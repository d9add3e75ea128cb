"""A judge cascade: the small judge decides; the large one is asked only when the small one is undecided.

One double serves the system under test (model ``app``) and both judges (models ``small`` and ``large``), so
the request log shows exactly which judge was asked for which case. The small judge is clear on one case,
near the threshold on another and unreadable on a third.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from helm_eval.config import ConfigError, ProjectConfig

SMALL = {"clear": 0.9, "near": 0.55, "broken": None}
LARGE = {"clear": 0.1, "near": 0.2, "broken": 1.0}


def answer(body: Mapping[str, Any]) -> str:
    """The app answers; each judge replies with its score for the case named in the rubric."""
    model, text = body["model"], body["messages"][-1]["content"]
    if model == "app":
        return "Paris is the capital of France."
    case = next(name for name in SMALL if f"case {name}" in text)
    score = (SMALL if model == "small" else LARGE)[case]
    if score is None:
        return "I cannot say."
    return f'{{"reason": "{model} judged {case}", "pass": {str(score >= 0.5).lower()}, "score": {score}}}'


SUITE = """
prompts: ["What is the capital of France?"]
tests:
""" + "".join(
    f"  - {{id: {name}, assert: [{{type: llm-rubric, value: names Paris (case {name}), threshold: 0.5}}]}}\n"
    for name in SMALL
)


def config(url: str, judge: str) -> str:
    return f"""
endpoints:
  app: {{url: "{url}", model: app}}
  small: {{url: "{url}", model: small}}
  large: {{url: "{url}", model: large}}
default_endpoint: app
judge: {judge}
"""


def judged_by(project: Any) -> dict[str, list[str]]:
    asked: dict[str, list[str]] = {}
    for request in project.chat_requests():
        if request.body["model"] != "app":
            case = next(n for n in SMALL if f"case {n}" in request.body["messages"][-1]["content"])
            asked.setdefault(case, []).append(request.body["model"])
    return asked


@pytest.mark.vllm_double(model=["app", "small", "large"], answer=answer)
def test_the_large_judge_is_asked_only_near_the_threshold_or_when_the_small_one_is_unreadable(project: Any) -> None:
    project.file("helm-eval.yaml", config(project.base_url, "{models: [small, large], escalate_within: 0.1}"))
    project.suite("x.yaml", SUITE)
    result = project.run("--helm-eval-report", "run.json", endpoint=False)
    # clear: the small judge passes it (the large one would have failed it, but is not asked);
    # near: 0.55 is within 0.1 of 0.5, so the large judge decides (0.2, fail); broken: the large one decides (pass)
    result.assert_outcomes(passed=2, failed=1)
    assert judged_by(project) == {"clear": ["small"], "near": ["small", "large"], "broken": ["small", "large"]}
    record = project.record()
    cases = {c["nodeid"].split("::")[-1]: c for c in record["cases"]}
    assert cases["near"]["verdicts"][0]["reason"].endswith(
        "(escalated: the first judge scored 0.55, near the threshold)"
    )
    assert "large judged broken" in cases["broken"]["verdicts"][0]["reason"]
    assert cases["broken"]["verdicts"][0]["reason"].endswith("(escalated: the first judge gave no valid verdict)")
    totals = record["totals"]
    assert (totals["judge_first_decided"], totals["judge_escalated"]) == (1, 2)
    # the large judge's tokens not spent on "clear": what the small judge took on the same prompt
    assert totals["judge_tokens_saved"] == cases["clear"]["judge_tokens"] > 0
    result.stdout.fnmatch_lines(
        [f"judge cascade: 1 of 3 verdicts decided by the first judge, 2 escalated; ~{totals['judge_tokens_saved']:,} *"]
    )


@pytest.mark.vllm_double(model=["app", "small", "large"], answer=answer)
def test_a_narrower_band_escalates_less(project: Any) -> None:
    project.file("helm-eval.yaml", config(project.base_url, "{models: [small, large], escalate_within: 0.01}"))
    project.suite("x.yaml", SUITE)
    project.run("--helm-eval-report", "run.json", endpoint=False).assert_outcomes(passed=3)
    # near (0.55) is now outside the band: the small judge passes it; only the unreadable reply escalates
    assert judged_by(project) == {"clear": ["small"], "near": ["small"], "broken": ["small", "large"]}


@pytest.mark.parametrize(
    ("judge", "message"),
    [
        ({"models": ["small"]}, "judge.models is a cascade of two or more judges"),
        ({"models": ["small", "large"], "endpoint": "small"}, "give judge.models (a cascade) or judge.endpoint"),
        ({"models": ["small", "nowhere"]}, "judge.models 'nowhere' is not among the endpoints"),
        ({"models": ["small", "large"], "escalate_within": 2}, "escalate_within"),
    ],
)
def test_cascade_config_mistakes(judge: dict[str, Any], message: str) -> None:
    endpoints = {"small": {"url": "http://s/v1"}, "large": {"url": "http://l/v1"}}
    with pytest.raises((ConfigError, ValueError), match=message.replace("(", r"\(").replace(")", r"\)")):
        ProjectConfig.model_validate({"endpoints": endpoints, "judge": judge})


def test_cascade_entries_are_endpoint_names_or_endpoint_and_model() -> None:
    config = ProjectConfig.model_validate(
        {
            "endpoints": {"small": {"url": "http://s/v1"}, "large": {"url": "http://l/v1"}},
            "judge": {"models": ["small", {"endpoint": "large", "model": "big-judge"}]},
        }
    )
    assert [(j.endpoint, j.model) for j in config.judge.judges] == [("small", None), ("large", "big-judge")]
