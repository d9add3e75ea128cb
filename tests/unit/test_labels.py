"""Attribution labels from GitHub Actions, GitLab CI and CODEOWNERS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from helm_eval.ledger import CodeOwners, ci_labels, parse_label_options


def test_github_labels_take_the_pr_number_from_the_event_payload(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 42}}))
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_REPOSITORY": "acme/agents",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_HEAD_REF": "feature/x",
        "GITHUB_REF_NAME": "42/merge",
        "GITHUB_SHA": "abc123",
        "GITHUB_WORKFLOW": "evals",
        "GITHUB_JOB": "helm-eval",
    }
    assert ci_labels(env) == {
        "repo": "acme/agents",
        "pr": "42",
        "branch": "feature/x",
        "sha": "abc123",
        "workflow": "evals",
        "job": "helm-eval",
    }


def test_github_falls_back_to_the_pull_ref() -> None:
    assert ci_labels({"GITHUB_ACTIONS": "true", "GITHUB_REF": "refs/pull/7/merge"})["pr"] == "7"


def test_gitlab_labels_use_the_merge_request_iid() -> None:
    env = {
        "GITLAB_CI": "true",
        "CI_PROJECT_PATH": "group/proj",
        "CI_MERGE_REQUEST_IID": "9",
        "CI_MERGE_REQUEST_SOURCE_BRANCH_NAME": "topic",
        "CI_COMMIT_SHA": "def",
        "CI_PIPELINE_SOURCE": "merge_request_event",
        "CI_JOB_NAME": "helm-eval",
    }
    labels = ci_labels(env)
    assert labels["repo"] == "group/proj"
    assert labels["pr"] == "9"
    assert labels["branch"] == "topic"


def test_outside_ci_there_are_no_labels() -> None:
    assert ci_labels({}) == {}


def test_label_options_are_validated() -> None:
    assert parse_label_options(["pr=3", "team=search"]) == {"pr": "3", "team": "search"}
    with pytest.raises(ValueError, match="KEY=VALUE"):
        parse_label_options(["colour=red"])


CODEOWNERS = """
# default owner
*                     @acme/platform
suites/               @acme/evals
suites/search/*.yaml  @acme/search
/suites/red-team/     @acme/security
*.md                  @acme/docs
"""


@pytest.mark.parametrize(
    ("path", "owner"),
    [
        ("suites/basics.yaml", "@acme/evals"),
        ("suites/search/ranking.yaml", "@acme/search"),
        ("suites/search/deep/x.yaml", "@acme/evals"),  # one * does not cross a directory
        ("suites/red-team/jailbreak.yaml", "@acme/security"),
        ("tests/test_x.py", "@acme/platform"),
        ("suites/README.md", "@acme/docs"),  # the last matching pattern wins
    ],
)
def test_codeowners_last_match_wins(path: str, owner: str) -> None:
    assert CodeOwners.parse(CODEOWNERS).owner(path) == owner


def test_codeowners_file_is_found_where_github_and_gitlab_look(tmp_path: Path) -> None:
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "CODEOWNERS").write_text("suites/ @team-a\n")
    assert CodeOwners.find(tmp_path).owner("suites/a.yaml") == "@team-a"
    assert CodeOwners.find(tmp_path / "nowhere").owner("suites/a.yaml") is None


def test_cases_are_attributed_to_codeowners_in_the_ledger(project: Any) -> None:
    project.file(".github/CODEOWNERS", "suites/ @acme/evals\n")
    project.suite("a.yaml", "prompts: ['hi']\ntests: [{id: one}, {id: two, metadata: {owner: team-x}}]\n")
    project.run("--helm-eval-report", "run.json").assert_outcomes(passed=2)
    owners = {c["nodeid"]: c["owner"] for c in json.loads((project.path / "run.json").read_text())["cases"]}
    assert owners == {"suites/a.yaml::one": "@acme/evals", "suites/a.yaml::two": "team-x"}
