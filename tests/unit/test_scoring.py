"""promptfoo scoring: assertion weights, the test threshold (weighted score), metrics, and repeat: {n, pass_rate}."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from helm_eval._records import Assertion, Case, Verdict
from helm_eval.collect import load_suite
from helm_eval.config import SuiteError
from helm_eval.pipeline._scoring import named_scores, run_passed, run_score
from tests.conftest import Project


def case(*weights: float, threshold: float | None = None) -> Case:
    assertions = tuple(
        Assertion("contains", "x", weight=w, metric="m" if i == 0 else None) for i, w in enumerate(weights)
    )
    return Case("c", "s.yaml", 1, (), {}, assertions, score_threshold=threshold)


def verdicts(*passed: bool) -> list[Verdict]:
    return [Verdict("contains", "pass" if p else "fail", "") for p in passed]


def test_weighted_score_and_threshold() -> None:
    c = case(3, 1, threshold=0.75)
    assert run_score(c.assertions, verdicts(True, False)) == 0.75
    assert run_passed(c, verdicts(True, False)), "3 of 4 weighted points reach 0.75"
    assert not run_passed(c, verdicts(False, True))
    strict = case(3, 1)
    assert not run_passed(strict, verdicts(True, False)), "without a threshold every weighted assertion must hold"


def test_weight_zero_reports_without_deciding_and_errors_always_fail() -> None:
    c = case(1, 0)
    assert run_passed(c, verdicts(True, False))
    assert not run_passed(c, [Verdict("contains", "pass", ""), Verdict("contains", "error", "boom")])


def test_judge_scores_count_as_they_are_and_metrics_average_over_runs() -> None:
    c = case(1, 1, threshold=0.7)
    judged = [Verdict("g-eval", "fail", "", score=0.4), Verdict("contains", "pass", "")]
    assert run_score(c.assertions, judged) == pytest.approx(0.7)
    assert run_passed(c, judged)
    assert named_scores(c.assertions, [judged, verdicts(True, True)]) == {"m": 0.7}


def load(tmp_path: Path, text: str) -> list[Case]:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return load_suite(path, "suites/s.yaml")


def test_repeat_with_pass_rate_and_threshold_as_score(tmp_path: Path) -> None:
    (c,) = load(tmp_path, "prompts: [x]\ntests: [{repeat: {n: 4, pass_rate: 0.5}, threshold: 0.6}]\n")
    assert (c.repeat, c.threshold, c.score_threshold) == (4, 0.5, 0.6)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("prompts: [x]\ntests:\n  - repeat: 5\n    threshold: 0.8\n", 4),
        ("prompts: [x]\ndefaultTest:\n  repeat: 5\n  threshold: 0.8\ntests: [{vars: {}}]\n", 4),
    ],
)
def test_the_old_pass_rate_spelling_is_refused_with_the_new_one(tmp_path: Path, text: str, line: int) -> None:
    with pytest.raises(SuiteError) as info:
        load(tmp_path, text)
    assert str(info.value).startswith(f"suites/s.yaml:{line}: threshold: with repeat: 5, threshold no longer means")
    assert "repeat: {n: 5, pass_rate: 0.8}" in str(info.value)


def test_weights_and_threshold_decide_end_to_end(project: Project) -> None:
    project.suite(
        "s.yaml",
        """
        prompts: ["{{q}}"]
        tests:
          - id: mostly-right
            vars: {q: hello}
            threshold: 0.7
            assert:
              - {type: contains, value: hello, weight: 3, metric: greeting}
              - {type: contains, value: absent, weight: 1}
          - id: not-enough
            vars: {q: hello}
            threshold: 0.8
            assert:
              - {type: contains, value: hello, weight: 3, metric: greeting}
              - {type: contains, value: absent, weight: 1}
        """,
    )
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["suites/s.yaml:9: not-enough: failed (score 0.75, needs 0.8)"])
    cases: dict[str, Any] = {c["nodeid"].split("::")[1]: c for c in project.record()["cases"]}
    assert cases["mostly-right"]["score"] == 0.75
    assert cases["mostly-right"]["named_scores"] == {"greeting": 1.0}
