"""``helm-eval init``: the scaffold runs as written against an endpoint, never overwrites without --force, and
``--from`` wraps an existing promptfoo file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fixtures.vllm_double import VLLMDouble
from helm_eval.cli import main
from helm_eval.config import load_project_config

# the double echoes by default; these rules make it answer the example suite as a working model would
ARITHMETIC = [(r"2\+2", "4")]


def init(tmp: Path, *args: str) -> int:
    return main(["init", "--dir", str(tmp), *args])


@pytest.mark.vllm_double(rules=ARITHMETIC)
def test_init_then_pytest_passes_against_the_endpoint(
    pytester: pytest.Pytester, vllm_double: VLLMDouble, capsys: pytest.CaptureFixture[str]
) -> None:
    assert init(pytester.path, "--endpoint", vllm_double.base_url) == 0
    out = capsys.readouterr().out
    assert "wrote helm-eval.yaml" in out
    assert "wrote suites/example.yaml" in out
    assert "next: helm-eval doctor && pytest --helm-eval" in out
    config = load_project_config(pytester.path / "helm-eval.yaml")
    assert config.endpoints["default"].url == vllm_double.base_url
    # the command init prints, in a real process, with no endpoint flag: everything comes from the written files
    result = pytester.runpytest_subprocess("--helm-eval", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert any(r.path == "/v1/chat/completions" for r in vllm_double.requests)
    assert (pytester.path / "reports" / "run.json").is_file()


@pytest.mark.vllm_double(rules=[(r"2\+2", "I am sorry, 5")])
def test_the_example_suite_can_fail(pytester: pytest.Pytester, vllm_double: VLLMDouble) -> None:
    assert init(pytester.path, "--endpoint", vllm_double.base_url) == 0
    result = pytester.runpytest_subprocess("--helm-eval", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*suites/example.yaml:*two-plus-two*"])


def test_existing_files_are_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "helm-eval.yaml").write_text("# mine\n", encoding="utf-8")
    assert init(tmp_path, "--ci", "github") == 1
    err = capsys.readouterr().err
    assert "helm-eval.yaml exists; not overwritten (use --force to replace it)" in err
    assert (tmp_path / "helm-eval.yaml").read_text(encoding="utf-8") == "# mine\n"
    # nothing at all is written when one file is in the way
    assert not (tmp_path / "suites").exists()
    assert not (tmp_path / ".github").exists()
    assert not (tmp_path / ".gitignore").exists()

    assert init(tmp_path, "--ci", "github", "--force") == 0
    assert "replaced helm-eval.yaml" in capsys.readouterr().out
    assert "endpoints:" in (tmp_path / "helm-eval.yaml").read_text(encoding="utf-8")
    assert (tmp_path / ".github" / "workflows" / "helm-eval.yml").is_file()


def test_gitignore_lines_are_added_once(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/\n/.helm-eval\n", encoding="utf-8")
    assert init(tmp_path) == 0
    assert init(tmp_path, "--force") == 0
    lines = (tmp_path / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["node_modules/", "/.helm-eval"]
    assert lines.count("reports/") == 1
    assert ".helm-eval/" not in lines  # already ignored as /.helm-eval


def test_serve_writes_no_endpoint_and_says_how_to_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert init(tmp_path, "--serve", "--ci", "github") == 0
    assert "next: pytest --helm-eval --helm-eval-serve smollm2" in capsys.readouterr().out
    assert load_project_config(tmp_path / "helm-eval.yaml").endpoints == {}
    workflow = yaml.safe_load((tmp_path / ".github" / "workflows" / "helm-eval.yml").read_text(encoding="utf-8"))
    step = workflow["jobs"]["evals"]["steps"][1]
    assert step["with"]["serve-model"] == "smollm2"
    assert "endpoint" not in step["with"]


PROMPTFOO = """\
description: support bot
prompts: ["Answer briefly: {{question}}"]
providers:
  - id: openai:chat:llama-3.1-8b
    label: Local vLLM
    config: {apiBaseUrl: "http://127.0.0.1:8000/v1", apiKeyEnvar: VLLM_KEY}
  - openai:gpt-4o-mini
  - anthropic:messages:claude-3-5-haiku
  - {"vllm:qwen2": {config: {apiBaseUrl: "http://gpu:8000/v1/", apiKey: "sk-inline"}}}
tests:
  - vars: {question: "2+2?"}
    assert: [{type: contains, value: "4"}]
"""


def test_from_promptfoo_points_suites_at_the_file_and_maps_providers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "evals").mkdir()
    (tmp_path / "evals" / "promptfooconfig.yaml").write_text(PROMPTFOO, encoding="utf-8")
    assert init(tmp_path, "--from", str(tmp_path / "evals" / "promptfooconfig.yaml"), "--ci", "gitlab") == 0
    out = capsys.readouterr().out
    config = load_project_config(tmp_path / "helm-eval.yaml")
    assert config.suites == ["evals/promptfooconfig.yaml"]
    assert {name: (e.url, e.model, e.api_key_env) for name, e in config.endpoints.items()} == {
        "local-vllm": ("http://127.0.0.1:8000/v1", "llama-3.1-8b", "VLLM_KEY"),
        "gpt-4o-mini": ("https://api.openai.com/v1", "gpt-4o-mini", "OPENAI_API_KEY"),
        "qwen2": ("http://gpu:8000/v1", "qwen2", "HELM_EVAL_API_KEY"),
    }
    assert config.default_endpoint == "local-vllm"
    assert "sk-inline" not in (tmp_path / "helm-eval.yaml").read_text(encoding="utf-8")
    assert "note: evals/promptfooconfig.yaml: providers[2]: 'anthropic:messages:claude-3-5-haiku' is not" in out
    assert "providers[3]: apiKey is not copied" in out
    assert not (tmp_path / "suites").exists()  # the promptfoo file is the suite
    ci = yaml.safe_load((tmp_path / ".gitlab-ci.yml").read_text(encoding="utf-8"))
    assert ci["include"][0]["inputs"]["suites"] == "evals/promptfooconfig.yaml"


def test_from_a_missing_or_outside_file_is_one_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert init(tmp_path, "--from", str(tmp_path / "nope.yaml")) == 2
    assert capsys.readouterr().err.strip() == f"helm-eval: --from {tmp_path / 'nope.yaml'}: no such file"
    outside = tmp_path.parent / f"{tmp_path.name}-promptfoo.yaml"
    outside.write_text(PROMPTFOO, encoding="utf-8")
    assert init(tmp_path, "--from", str(outside)) == 2
    assert "must be inside the project" in capsys.readouterr().err
    assert not (tmp_path / "helm-eval.yaml").exists()


def test_init_is_a_console_command(tmp_path: Path) -> None:
    helm_eval = Path(sys.executable).with_name("helm-eval")
    proc = subprocess.run([helm_eval, "init"], cwd=tmp_path, capture_output=True, text=True, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[-1] == "next: helm-eval doctor && pytest --helm-eval"
