"""The suite gives the same results in a GitHub pull-request job or a GitLab merge-request job as on a laptop.

tests/conftest.py removes the CI platform's and helm-eval's own variables (``OUTSIDE_ENV``) before every test, so
no inner run, in-process or subprocess, sees the job it runs in. The first test shows those variables would shape
a run that is given them; the last runs the middle one in a pytest process that has them all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, Project, outside_variables

PR = 7
SUITE = """
    prompts: ["Say {{word}}"]
    tests:
      - {id: hello, vars: {word: hello}, assert: [{type: contains, value: hello}]}
      - {id: bye, vars: {word: bye}, assert: [{type: contains, value: bye}]}
"""
# the job's own model is served too, so the run that takes it still runs, and shows it
BOTH_MODELS = pytest.mark.vllm_double(model=["double-model", "job-model"])


def pull_request_job(root: Path) -> dict[str, str]:
    """What a GitHub pull-request job and a GitLab merge-request job set (both at once here), with a budget policy
    that cuts every case and an endpoint model and key of the job's own."""
    event = root / "event.json"
    event.write_text(json.dumps({"action": "synchronize", "pull_request": {"number": PR}}), encoding="utf-8")
    policy = root / "policy.yaml"
    policy.write_text("budget:\n  run: {tokens: 1}\n  on_exhausted: fail\n", encoding="utf-8")
    return {
        "CI": "true",
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REF": f"refs/pull/{PR}/merge",
        "GITHUB_HEAD_REF": "feature",
        "GITHUB_BASE_REF": "main",
        "GITHUB_REPOSITORY": "acme/agents",
        "GITHUB_OUTPUT": str(root / "github-output"),
        "GITHUB_STEP_SUMMARY": str(root / "github-summary"),
        "GITHUB_TOKEN": "ghs_job_token",
        "GITLAB_CI": "true",
        "CI_MERGE_REQUEST_IID": str(PR),
        "CI_PROJECT_PATH": "acme/agents",
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "HELM_EVAL_POLICY": str(policy),
        "HELM_EVAL_MODEL": "job-model",
        "HELM_EVAL_API_KEY": "job-key",
    }


@BOTH_MODELS
def test_a_run_given_the_job_variables_is_shaped_by_them(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in pull_request_job(project.path).items():
        monkeypatch.setenv(name, value)
    project.suite("greet.yaml", SUITE)
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(skipped=2)
    assert result.ret == 1  # the policy's 1-token cap cut both cases and fails the check
    record = project.record()
    assert record["labels"]["pr"] == str(PR)
    assert record["labels"]["repo"] == "acme/agents"
    assert record["budget"]["limit_tokens"] == 1
    assert record["budget"]["source"].startswith("policy ")
    monkeypatch.delenv("HELM_EVAL_POLICY")
    project.run().assert_outcomes(passed=2)
    requests = project.chat_requests()
    assert {r.body["model"] for r in requests} == {"job-model"}
    assert all(r.headers.get("Authorization") == "<redacted>" for r in requests)


def test_a_run_sees_nothing_of_the_job_it_runs_in(project: Project) -> None:
    assert outside_variables(os.environ) == []
    project.suite("greet.yaml", SUITE)
    for run in (project.run, project.run_subprocess):
        result = run("--helm-eval-report", "run.json", "--helm-eval-cache", "off")
        result.assert_outcomes(passed=2)
        assert result.ret == 0
        record = project.record()
        assert "pr" not in record["labels"]
        assert "repo" not in record["labels"]
        assert record["budget"] is None
    requests = project.chat_requests()
    assert len(requests) == 4
    assert {r.body["model"] for r in requests} == {"double-model"}
    assert not [r for r in requests if "authorization" in {h.lower() for h in r.headers}]


def test_the_suite_gives_the_same_results_inside_a_pull_request_job(pytester: pytest.Pytester) -> None:
    job = pull_request_job(pytester.path)
    this_test = f"{Path(__file__).relative_to(REPO_ROOT)}::test_a_run_sees_nothing_of_the_job_it_runs_in"
    inner = subprocess.run(
        [sys.executable, "-m", "pytest", this_test, "-p", "no:cacheprovider", "--basetemp", str(pytester.path / "tmp"),
         "-q", "-rA"],
        cwd=REPO_ROOT, env={**os.environ, **job}, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert inner.returncode == 0, inner.stdout + inner.stderr
    assert "1 passed" in inner.stdout
    assert not Path(job["GITHUB_OUTPUT"]).exists()
    assert not Path(job["GITHUB_STEP_SUMMARY"]).exists()
