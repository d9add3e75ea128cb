"""promptfoo configs from promptfoo's own repository (tests/data/promptfoo), collected and run as they are."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from helm_eval.collect import MatrixOptions, load_suite
from helm_eval.config import ModelSpec, SuiteError
from tests.conftest import Project

DATA = Path(__file__).parent.parent / "data" / "promptfoo"


def copy(example: str, root: Path) -> Path:
    target = root / "suites" / example
    shutil.copytree(DATA / example, target)
    return target / "promptfooconfig.yaml"


@pytest.mark.vllm_double(rules=[("French", "Bonjour le monde !"), ("Spanish", "¿Dónde está la biblioteca?")])
def test_getting_started_runs_two_prompts_by_two_providers(project: Project) -> None:
    copy("getting-started", project.path)
    result = project.run("-v", "--helm-eval-report", "run.json")
    result.assert_outcomes(passed=8)
    result.stdout.fnmatch_lines(
        [
            "*promptfooconfig.yaml::test-1?prompt-1??openai:gpt-4o-mini? PASSED*",
            "*promptfooconfig.yaml::test-2?prompt-2??openai:gpt-4o? PASSED*",
            "helm-eval: suites/getting-started/promptfooconfig.yaml: promptfoo provider 'openai:gpt-4o-mini' is not "
            "mapped to an endpoint; its cases run on the default endpoint and model*",
        ]
    )
    assert len(project.chat_requests()) == 8


def test_a_mapped_provider_runs_on_its_endpoint_with_its_config(project: Project) -> None:
    copy("vllm-docs", project.path)
    project.file(
        "helm-eval.yaml",
        f"""
        endpoints:
          default: {{url: "{project.base_url}"}}
        provider_map:
          vLLM qwen3-8b: {{endpoint: default, model: double-model}}
        """,
    )
    result = project.run("-v", endpoint=False)
    assert result.ret == 1, "the double echoes; the answer lacks Paris"
    result.stdout.fnmatch_lines(["*promptfooconfig.yaml::test-1 FAILED*"])
    (request,) = project.chat_requests()
    assert (request.body["model"], request.body["temperature"], request.body["max_tokens"]) == (
        "double-model",
        0.2,
        512,
    )
    assert "token-abc123" not in str(request.headers), "a key written in the config is never sent"


def test_api_base_url_picks_the_endpoint_with_that_url(tmp_path: Path) -> None:
    path = copy("vllm-docs", tmp_path)
    (case,) = load_suite(
        path,
        "suites/vllm-docs/promptfooconfig.yaml",
        None,
        MatrixOptions(endpoint_urls={"http://localhost:8000/v1": "gpu"}),
    )
    assert (case.id, case.endpoint, case.model) == ("test-1", "gpu", "qwen3-8b")
    assert (case.options["temperature"], case.options["max_tokens"]) == (0.2, 512)
    with pytest.raises(SuiteError, match=r"promptfooconfig.yaml:5: providers: apiBaseUrl 'http://localhost:8000/v1'"):
        load_suite(path, "suites/vllm-docs/promptfooconfig.yaml")


def test_csv_metadata_example_reads_rows_shorthand_and_metadata(tmp_path: Path) -> None:
    path = copy("csv-metadata", tmp_path)
    matrix = MatrixOptions(provider_map={"openai:gpt-4": ModelSpec(model="small")})
    cases = load_suite(path, "suites/csv-metadata/promptfooconfig.yaml", None, matrix)
    assert [(c.file, c.line, c.model, c.options.get("temperature")) for c in cases] == [
        ("suites/csv-metadata/tests.csv", n, "small", 0.7) for n in (2, 3, 4)
    ]
    second = cases[1]
    assert [(a.type, a.value) for a in second.assertions] == [
        ("contains", " quantum"),
        ("llm-rubric", "Does this describe quantum physics accurately?"),
    ]
    assert second.metadata == {"category": "science", "tags": ["physics", "advanced,theory", "quantum"]}
    assert not matrix.notes


def test_what_helm_eval_cannot_honour_is_one_error_at_its_line(tmp_path: Path) -> None:
    path = copy("simple-test", tmp_path)
    with pytest.raises(SuiteError) as info:
        load_suite(path, "suites/simple-test/promptfooconfig.yaml")
    assert str(info.value).startswith("suites/simple-test/promptfooconfig.yaml:54: assertionTemplates: not supported")
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: text.index("  - description: Use LLM")], encoding="utf-8")
    with pytest.raises(SuiteError) as info:
        load_suite(path, "suites/simple-test/promptfooconfig.yaml")
    assert str(info.value).startswith(
        "suites/simple-test/promptfooconfig.yaml:32: tests[3].assert[0]: assertion 'javascript'"
    )
    assert "python:module:function" in str(info.value)


@pytest.mark.parametrize(
    ("config", "line", "message"),
    [
        ("providers: [echo]\nprompts: [x]\ntests: [{}]\nevaluateOptions: {delay: 5}\n", 4, "evaluateOptions.delay"),
        ("providers: [{id: openai:x, config: {tools: []}}]\nprompts: [x]\ntests: [{}]\n", 1, "config.tools"),
        ("providers: [file://p.py]\nprompts: [x]\ntests: [{}]\n", 1, "runs code"),
        ("providers: [echo]\nprompts: [x]\ntests: [{}]\nenv: {A: b}\n", 4, "env: not supported"),
    ],
)
def test_unhonourable_keys_are_errors(tmp_path: Path, config: str, line: int, message: str) -> None:
    path = tmp_path / "promptfooconfig.yaml"
    path.write_text(config, encoding="utf-8")
    with pytest.raises(SuiteError) as info:
        load_suite(path, "promptfooconfig.yaml")
    assert str(info.value).startswith(f"promptfooconfig.yaml:{line}: ")
    assert message in str(info.value)


def test_evaluate_options_repeat_repeats_every_test(tmp_path: Path) -> None:
    path = tmp_path / "promptfooconfig.yaml"
    path.write_text(
        "providers: [echo]\nprompts: [x]\nevaluateOptions: {repeat: 3, maxConcurrency: 2}\n"
        "tests:\n  - threshold: 0.5\n",
        encoding="utf-8",
    )
    (case,) = load_suite(path, "promptfooconfig.yaml")
    assert (case.repeat, case.threshold, case.score_threshold) == (3, 1.0, 0.5)
