"""The Action's run step reads only the ledger and response cache its workflow restored, never the pull request's.

A pull request could commit a response cache whose answers pass (the keys are deterministic), or point its
config's ``cache_path`` at one: its cases would be judged on answers the model never gave. The step removes what
the checkout holds in ``.helm-eval/`` and pins the cache with ``HELM_EVAL_RESPONSE_CACHE``. These tests run the
step's script as the Action does (bash, its environment, a git checkout) against the vLLM double; the whole
Action runs under act in test_github_action.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fixtures.vllm_double import VLLMDouble
from tests.ci._support import REPO, git_init, plant_answers

pytestmark = pytest.mark.ci

SUITE = """\
    prompts: ["{{q}}"]
    tests:
      - id: subtraction
        vars: {q: "What is 10 minus 3?"}
        assert: [{type: regex, value: "\\\\bseven\\\\b"}]
"""


def _run_step(project: Path, runner: Path, endpoint: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """The Action's "Run the suites" step; returns the process and its ``status`` output."""
    venv = runner / "helm-eval-venv"
    if not venv.exists():
        venv.symlink_to(sys.prefix, target_is_directory=True)  # install.sh's venv: this one, with helm-eval in it
    output = runner / "github-output"
    output.write_text("", encoding="utf-8")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("HELM_EVAL_", "GITHUB_", "INPUT_"))},
        "RUNNER_TEMP": str(runner),
        "HELM_EVAL_REPORTS": str(runner / "reports"),
        "GITHUB_OUTPUT": str(output),
        "INPUT_ENDPOINT": endpoint,
    }
    proc = subprocess.run(["bash", str(REPO / "actions" / "scripts" / "run-eval.sh")], cwd=project, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc, output.read_text(encoding="utf-8")


@pytest.mark.parametrize("where", ["committed in .helm-eval/", "named by the config's cache_path"])
def test_the_pull_requests_own_cache_is_not_read(tmp_path: Path, where: str) -> None:
    project = tmp_path / "consumer"
    (project / "suites").mkdir(parents=True)
    (project / "suites" / "math.yaml").write_text(textwrap.dedent(SUITE), encoding="utf-8")
    (project / "helm-eval.yaml").write_text("suites: [suites/*.yaml]\n", encoding="utf-8")
    git_init(project, "https://github.com/acme/app.git")  # the pull request's checkout
    plant_answers(project, [("10 minus 3", "seven")])
    if where == "named by the config's cache_path":
        (project / "fixtures").mkdir()
        subprocess.run(["git", "mv", "-f", ".helm-eval/cache.sqlite", "fixtures/answers.sqlite"], cwd=project,
                       check=True, capture_output=True)  # fmt: skip
        subprocess.run(["git", "rm", "-rfq", ".helm-eval"], cwd=project, check=True, capture_output=True)
        shutil.rmtree(project / ".helm-eval", ignore_errors=True)
        (project / "helm-eval.yaml").write_text(
            "suites: [suites/*.yaml]\ncache: replay-only\ncache_path: fixtures/answers.sqlite\n", encoding="utf-8"
        )
    runner = tmp_path / "runner"
    runner.mkdir()
    with VLLMDouble() as model:  # answers by echoing the prompt: no "seven"
        proc, outputs = _run_step(project, runner, model.base_url)
        asked = [r for r in model.requests if r.path == "/v1/chat/completions"]
    log = proc.stdout + proc.stderr
    if where == "committed in .helm-eval/":
        assert "the repository holds files in .helm-eval/; they were removed before the run" in log
        assert len(asked) == 1, log[-3000:]  # the model was asked, and its answer judged
        assert "status=1" in outputs, log[-3000:]  # red, as the model's answer deserves
    else:
        # replay-only with nothing trusted to replay: an error, never the planted answer
        assert not asked
        assert "status=1" in outputs, log[-3000:]
        assert "replay-only: the response cache has no answer for this call" in log
        assert "the project config's cache_path ('fixtures/answers.sqlite') ignored" in log
    assert "1 passed" not in log


def test_the_restored_cache_is_read(tmp_path: Path) -> None:
    """What the workflow restored into .helm-eval/ (untracked) answers the run: a rerun costs nothing."""
    project = tmp_path / "consumer"
    (project / "suites").mkdir(parents=True)
    (project / "suites" / "math.yaml").write_text(textwrap.dedent(SUITE), encoding="utf-8")
    (project / "helm-eval.yaml").write_text("suites: [suites/*.yaml]\n", encoding="utf-8")
    git_init(project, "https://github.com/acme/app.git")
    runner = tmp_path / "runner"
    runner.mkdir()
    with VLLMDouble(rules=[("10 minus 3", "seven")]) as model:
        first, outputs = _run_step(project, runner, model.base_url)
        assert "status=0" in outputs, (first.stdout + first.stderr)[-3000:]
        again, outputs = _run_step(project, runner, model.base_url)
        asked = [r for r in model.requests if r.path == "/v1/chat/completions"]
    assert "status=0" in outputs, (again.stdout + again.stderr)[-3000:]
    assert len(asked) == 1  # the second run was answered from the cache
    assert "removed before the run" not in again.stdout + again.stderr
