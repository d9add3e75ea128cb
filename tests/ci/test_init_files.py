"""The CI files ``helm-eval init --ci`` writes pass the same offline validators as the shipped examples."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helm_eval.cli import main
from tests.ci._support import tool
from tests.ci.test_validators import run

pytestmark = pytest.mark.ci


@pytest.mark.parametrize("serve", [False, True], ids=["endpoint", "serve"])
def test_github_workflow_validates(tmp_path: Path, serve: bool) -> None:
    assert main(["init", "--dir", str(tmp_path), "--ci", "github", *(["--serve"] if serve else [])]) == 0
    workflow = tmp_path / ".github" / "workflows" / "helm-eval.yml"
    proc = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", workflow)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run(tool("actionlint"), "-no-color", workflow)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    proc = run(tool("zizmor"), "--offline", "--config", "tests/ci/zizmor.yml", workflow)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("source", [False, True], ids=["example", "promptfoo"])
def test_gitlab_ci_validates(tmp_path: Path, source: bool) -> None:
    args = ["init", "--dir", str(tmp_path), "--ci", "gitlab"]
    if source:
        (tmp_path / "promptfooconfig.yaml").write_text("providers: [openai:chat:m]\ntests: []\n", encoding="utf-8")
        args += ["--from", str(tmp_path / "promptfooconfig.yaml")]
    assert main(args) == 0
    ci = tmp_path / ".gitlab-ci.yml"
    proc = run(tool("check-jsonschema"), "--builtin-schema", "vendor.gitlab-ci", ci)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    inputs = yaml.safe_load(ci.read_text(encoding="utf-8"))["include"][0]["inputs"]
    # the package input pins this release's tag, since the default (helm-eval from the registry) may not exist
    assert inputs["package"].startswith("helm-eval @ git+https://")
