"""The model matrix: ``models:`` in a suite or the config, ``--helm-eval-model a,b``; models side by side."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from helm_eval._records import CaseResult, RunRecord
from helm_eval.collect import MatrixOptions, load_suite
from helm_eval.config import ModelSpec, SuiteError
from helm_eval.report import write_summary
from helm_eval.report._markdown import render
from tests.conftest import Project


def load(tmp_path: Path, text: str, matrix: MatrixOptions | None = None) -> list:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return load_suite(path, "suites/s.yaml", None, matrix)


def test_a_suite_matrix_makes_one_case_per_model(tmp_path: Path) -> None:
    cases = load(
        tmp_path,
        """
        prompts: [a, b]
        models: [small, {model: big, endpoint: gpu, label: big-gpu}]
        tests: [{id: t}]
        """,
    )
    assert [(c.id, c.model, c.endpoint) for c in cases] == [
        ("t[prompt-1][small]", "small", None),
        ("t[prompt-1][big-gpu]", "big", "gpu"),
        ("t[prompt-2][small]", "small", None),
        ("t[prompt-2][big-gpu]", "big", "gpu"),
    ]


def test_the_command_line_wins_over_the_suite_and_the_config_fills_in(tmp_path: Path) -> None:
    suite = "prompts: [a]\nmodels: [small, big]\ntests: [{id: t}]\n"
    assert [c.id for c in load(tmp_path, suite, MatrixOptions(override=["x", "y"]))] == ["t[x]", "t[y]"]
    bare = "prompts: [a]\ntests: [{id: t}]\n"
    assert [c.id for c in load(tmp_path, bare, MatrixOptions(models=[ModelSpec(model="m")]))] == ["t"]
    assert [c.model for c in load(tmp_path, bare, MatrixOptions(models=[ModelSpec(model="m")]))] == ["m"]


def test_a_repeated_label_is_an_error_at_models(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"suites/s.yaml:2: models: the model matrix names 'a' twice"):
        load(tmp_path, "prompts: [a]\nmodels: [a, a]\ntests: [{id: t}]\n")


def test_the_summary_puts_models_side_by_side() -> None:
    def result(model: str, status: str, tokens: int, latency: float) -> CaseResult:
        return CaseResult(
            f"s.yaml::t[{model}]",
            "s.yaml",
            1,
            status,
            model=model,
            prompt_tokens=tokens,
            latency_ms=[latency],  # type: ignore[arg-type]
        )

    record = RunRecord(
        cases=[result("a", "passed", 10, 5.0), result("a", "failed", 10, 7.0), result("b", "passed", 3, 2.0)]
    )
    lines: list[str] = []
    write_summary(record, lines.append)
    table = [line.split() for line in lines if line.split()[:1] in (["model"], ["a"], ["b"])]
    assert table == [
        ["model", "cases", "pass", "rate", "tokens", "cost", "p50", "ms", "p95", "ms"],
        ["a", "2", "50%", "20", "-", "6", "7"],
        ["b", "1", "100%", "3", "-", "2", "2"],
    ]
    # the job summary and the PR/MR comment show the same table
    markdown = render(record).splitlines()
    start = markdown.index("### Models side by side")
    assert markdown[start + 2 : start + 6] == [
        "| model | cases | pass rate | tokens | cost | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|---|",
        "| a | 2 | 50% | 20 | - | 6 | 7 |",
        "| b | 1 | 100% | 3 | - | 2 | 2 |",
    ]
    single = RunRecord(cases=[result("a", "passed", 10, 5.0)])
    assert "### Models side by side" not in render(single)


@pytest.mark.vllm_double(model=["m1", "m2"])
def test_helm_eval_model_with_commas_runs_each_case_per_model(project: Project) -> None:
    project.suite("s.yaml", 'prompts: ["hi"]\ntests: [{id: t, assert: [{type: contains, value: hi}]}]\n')
    result = project.run("-v", "--helm-eval-model", "m1,m2", "--helm-eval-report", "run.json")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*suites/s.yaml::t?m1? PASSED*", "*suites/s.yaml::t?m2? PASSED*", "model*pass rate*"])
    assert sorted(r.body["model"] for r in project.chat_requests()) == ["m1", "m2"]
    assert sorted(c["model"] for c in project.record()["cases"]) == ["m1", "m2"]
