"""The action, sub-actions, example workflows and GitLab files pass the offline validators, with no findings:
check-jsonschema (GitHub action/workflow and GitLab CI schemas), actionlint and zizmor --offline."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ci._support import REPO, tool

pytestmark = pytest.mark.ci

ACTIONS = [REPO / "action.yml", *sorted((REPO / "actions").glob("*/action.yml"))]
WORKFLOWS = [REPO / "docs" / "examples" / f"{name}-workflow.yml" for name in ("github", "github-matrix", "release")]
GITLAB = [*sorted((REPO / "gitlab").rglob("*.yml")), *sorted((REPO / "docs" / "examples").glob("gitlab-ci*.yml"))]


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_files_exist() -> None:
    assert len(ACTIONS) == 3
    assert len(GITLAB) == 4


@pytest.mark.parametrize("path", ACTIONS, ids=lambda p: str(p.relative_to(REPO)))
def test_action_schema(path: Path) -> None:
    proc = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: str(p.relative_to(REPO)))
def test_workflow_schema_and_actionlint(path: Path) -> None:
    proc = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run(tool("actionlint"), "-no-color", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", GITLAB, ids=lambda p: str(p.relative_to(REPO)))
def test_gitlab_schema(path: Path, tmp_path: Path) -> None:
    # a template with `spec:` is two YAML documents (the spec header, then the jobs): check each on its own
    documents = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    checker = tool("check-jsonschema")
    for index, document in enumerate(documents):
        part = tmp_path / f"{index}.yml"
        part.write_text(yaml.safe_dump(document), encoding="utf-8")
        proc = run(checker, "--builtin-schema", "vendor.gitlab-ci", part)
        assert proc.returncode == 0, f"{path} document {index}: {proc.stdout}{proc.stderr}"


def test_zizmor_offline_has_no_findings() -> None:
    targets = [p.relative_to(REPO) for p in (*ACTIONS, *WORKFLOWS)]
    proc = run(tool("zizmor"), "--offline", "--config", "tests/ci/zizmor.yml", *targets)
    # zizmor exits 14 when it has findings (and 0 when none)
    assert proc.returncode == 0, proc.stdout + proc.stderr
