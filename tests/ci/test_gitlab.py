"""The GitLab component and include template run for real under gitlab-ci-local (shell executor) in a merge
request pipeline, against the vLLM double; the MR note goes to a local stand-in for the GitLab API."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from fixtures.vllm_double import VLLMDouble
from tests.ci._support import REPO, FakeApi, assert_markdown_inert, clean_copy, git_init, plant_answers, tool

pytestmark = pytest.mark.ci

EXAMPLES = REPO / "docs" / "examples"
HOST = "gitlab.example.com"
TOKEN = "glpat-test-token"
OK = """\
    description: answers that pass
    prompts: ["{{q}}"]
    tests:
      - id: echoes
        vars: {q: "hello world"}
        assert: [{type: contains, value: hello}]
"""
FAILS = """\
    description: a case that fails on purpose
    prompts: ["{{q}}"]
    tests:
      - id: wrong-answer
        vars: {q: "What is 10 minus 3? <script>x</script> | y"}
        assert:
          - {type: regex, value: "\\\\bseven\\\\b"}
"""


@pytest.fixture(scope="module")
def gl_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tool("gitlab-ci-local")
    if shutil.which("rsync") is None:
        tool("rsync")
    root = tmp_path_factory.mktemp("gitlab")
    source = clean_copy(root / "helm-eval")
    # the job's `python` (the shell executor's PATH): a fresh venv, so the job installs helm-eval itself
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True)
    return {"root": root, "source": source, "venv": root / "venv"}


def make_project(env: dict[str, Path], example: str, suites: dict[str, str]) -> Path:
    project = env["root"] / f"project-{len(list(env['root'].glob('project-*')))}"
    project.mkdir()
    shutil.copy(EXAMPLES / example, project / ".gitlab-ci.yml")
    for name, text in suites.items():
        (project / "suites").mkdir(exist_ok=True)
        (project / "suites" / name).write_text(textwrap.dedent(text), encoding="utf-8")
    git_init(project, f"https://{HOST}/acme/app.git")
    # what gitlab-ci-local would fetch from the helm-eval projects: the component and the include template
    includes = project / ".gitlab-ci-local" / "includes" / HOST
    component = includes / "helm-eval" / "helm-eval-ci" / "1.0.0" / "templates"
    component.mkdir(parents=True)
    shutil.copy(REPO / "gitlab" / "templates" / "helm-eval.yml", component / "helm-eval.yml")
    template = includes / "helm-eval" / "helm-eval" / "v1" / "gitlab"
    template.mkdir(parents=True)
    shutil.copy(REPO / "gitlab" / "helm-eval.gitlab-ci.yml", template / "helm-eval.gitlab-ci.yml")
    return project


def run_pipeline(
    env: dict[str, Path], project: Path, endpoint: str, *variables: str
) -> subprocess.CompletedProcess[str]:
    args = [tool("gitlab-ci-local"), "--force-shell-executor", "--no-color",
            "--variable", "CI_PIPELINE_SOURCE=merge_request_event", "--variable", "CI_MERGE_REQUEST_IID=7",
            "--variable", f"HELM_EVAL_ENDPOINT={endpoint}",
            "--variable", f"HELM_EVAL_PACKAGE={env['source']}"]  # fmt: skip
    for variable in variables:
        args += ["--variable", variable]
    started = time.monotonic()
    path = f"{env['venv'] / 'bin'}{os.pathsep}{os.environ['PATH']}"
    proc = subprocess.run(args, cwd=project, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PATH": path, "VIRTUAL_ENV": str(env["venv"])})  # fmt: skip
    print(f"gitlab-ci-local: {time.monotonic() - started:.1f} s, exit status {proc.returncode}")
    (project.parent / f"{project.name}.log").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    return proc


_JOB_END = re.compile(r"^helm-eval finished in [^\n]*?(?:(FAIL|WARN)\w* (\d+))?\s*$", re.MULTILINE)


def job_exit(proc: subprocess.CompletedProcess[str]) -> tuple[str, int]:
    """How the helm-eval job ended, from its line in the log: ``("", 0)``, ``("FAIL", 1)`` or ``("WARN", 77)``.

    gitlab-ci-local (4.70) reports a job with ``allow_failure: exit_codes:`` as passed-with-warnings in its own
    exit status whatever the code; GitLab allows only the listed codes. The job's own line shows what GitLab does.
    """
    found = _JOB_END.findall(proc.stdout + proc.stderr)
    assert found, (proc.stdout + proc.stderr)[-3000:]
    word, code = found[-1]
    return word, int(code or 0)


def reports(project: Path) -> Path:
    return project / ".gitlab-ci-local" / "artifacts" / "helm-eval" / "helm-eval-reports"


def test_component_in_an_mr_pipeline_reports_and_fails(gl_env: dict[str, Path], fake_api: FakeApi) -> None:
    fake_api.existing = [{"id": 3, "body": "nice"}, {"id": 11, "body": "<!-- helm-eval:report -->\nold"}]
    project = make_project(gl_env, "gitlab-ci.yml", {"ok.yaml": OK, "fails.yaml": FAILS})
    with VLLMDouble() as double:
        proc = run_pipeline(gl_env, project, double.base_url, f"HELM_EVAL_GITLAB_TOKEN={TOKEN}",
                            f"CI_API_V4_URL={fake_api.url}/api/v4", "CI_PROJECT_ID=1234")  # fmt: skip
    log = proc.stdout + proc.stderr
    assert job_exit(proc) == ("FAIL", 1), log[-3000:]
    assert "check failed (fail-on failure): 1 case(s) failed" in log

    out = reports(project)
    # JUnit: 1-based file/line on the failing case
    testcases = {tc.get("name"): tc for tc in ET.parse(out / "junit.xml").getroot().iter("testcase")}
    assert testcases["wrong-answer"].get("file") == "suites/fails.yaml"
    assert testcases["wrong-answer"].get("line") == "4"
    # code quality: one issue on the suite line, with the stable fingerprint
    issues = json.loads((out / "codequality.json").read_text())
    assert len(issues) == 1
    issue = issues[0]
    assert issue["location"] == {"path": "suites/fails.yaml", "lines": {"begin": 4}}
    nodeid = "suites/fails.yaml::wrong-answer"
    assert issue["fingerprint"] == hashlib.sha256(f"{nodeid}\0regex".encode()).hexdigest()
    assert issue["severity"] == "major"
    assert set(issue) >= {"description", "check_name", "fingerprint", "severity", "location"}
    # OpenMetrics
    metrics = (out / "metrics.txt").read_text()
    assert metrics.endswith("# EOF\n")
    assert "helm_eval_pass_rate 0.500000" in metrics
    assert 'helm_eval_cases{status="failed"} 1' in metrics
    assert 'helm_eval_tokens{kind="total"}' in metrics
    # dotenv: small, single-line values, and GitLab's parser (gitlab-ci-local's) accepted it
    dotenv = (out / "helm-eval.env").read_text()
    assert len(dotenv.encode()) < 5 * 1024
    values = dict(line.split("=", 1) for line in dotenv.splitlines())
    assert values["HELM_EVAL_PASS_RATE"] == "0.5000"
    assert values["HELM_EVAL_FAILED"] == "1"
    assert int(values["HELM_EVAL_TOKENS"]) > 0
    assert 0 < int(values["HELM_EVAL_BUDGET_REMAINING"]) < 200_000
    # the MR note: found by its marker and edited in place with the project access token
    writes = fake_api.writes()
    assert [(w.method, w.path) for w in writes] == [("PUT", "/api/v4/projects/1234/merge_requests/7/notes/11")]
    assert writes[0].headers["private-token"] == TOKEN
    assert_markdown_inert(writes[0].body["body"])
    assert TOKEN not in log
    # the HTML report: in the artifacts (exposed in the MR widget) and linked from the note
    page = (out / "report.html").read_text()
    assert '<script type="application/json" id="data">' in page
    assert "suites/fails.yaml::wrong-answer" in page
    assert "/artifacts/file/helm-eval-reports/report.html)" in writes[0].body["body"]


def test_include_template_passes_without_a_note_token(gl_env: dict[str, Path], fake_api: FakeApi) -> None:
    project = make_project(gl_env, "gitlab-ci-include.yml", {"ok.yaml": OK})
    with VLLMDouble() as double:
        proc = run_pipeline(gl_env, project, double.base_url, f"CI_API_V4_URL={fake_api.url}/api/v4")
    log = proc.stdout + proc.stderr
    assert job_exit(proc) == ("", 0), log[-3000:]
    assert "MR note skipped: no project access token" in log
    out = reports(project)
    assert json.loads((out / "codequality.json").read_text()) == []
    assert (out / "metrics.txt").read_text().endswith("# EOF\n")
    assert "HELM_EVAL_PASS_RATE=1.0000" in (out / "helm-eval.env").read_text()
    assert (out / "junit.xml").is_file()
    assert (out / "report.html").is_file()
    assert not fake_api.requests


def test_component_and_include_template_are_the_same_job() -> None:
    component = (REPO / "gitlab" / "templates" / "helm-eval.yml").read_text()
    assert (REPO / "gitlab" / "helm-eval.gitlab-ci.yml").read_text() == component


SUPPORT = """\
    description: support answers
    prompts: ["Answer: {{q}}"]
    tests:
      - id: refund
        vars: {q: "refund window"}
        assert: [{type: contains, value: "refund"}]
      - id: escalation
        vars: {q: "reach a human"}
        assert: [{type: contains, value: "call us"}]
"""


ARTIFACT = "/api/v4/projects/1234/jobs/artifacts/main/raw/helm-eval-reports/run.json"


def default_branch_pipeline(
    env: dict[str, Path], project: Path, endpoint: str, api: FakeApi, run_env: dict[str, str], *variables: str
) -> subprocess.CompletedProcess[str]:
    """A push pipeline on main; the API stand-in then serves its run record as GitLab would.

    GitLab answers ``/jobs/artifacts/main/raw/<path>?job=<name>`` from the latest *successful* pipeline of main
    (passed, or passed with warnings): a failed pipeline leaves the previous record in place, or none.
    """
    args = [tool("gitlab-ci-local"), "--force-shell-executor", "--no-color",
            "--variable", "CI_PIPELINE_SOURCE=push", "--variable", "CI_COMMIT_BRANCH=main",
            "--variable", "CI_DEFAULT_BRANCH=main", "--variable", f"HELM_EVAL_ENDPOINT={endpoint}",
            "--variable", f"HELM_EVAL_PACKAGE={env['source']}"]  # fmt: skip
    for variable in variables:
        args += ["--variable", variable]
    proc = subprocess.run(args, cwd=project, capture_output=True, text=True, timeout=900, env=run_env)
    log = project.parent / f"{project.name}-main.log"
    with log.open("a", encoding="utf-8") as out:
        out.write(proc.stdout + proc.stderr)
    record = reports(project) / "run.json"
    if job_exit(proc)[0] != "FAIL" and record.is_file():
        api.files[ARTIFACT] = record.read_bytes()
    return proc


def test_mr_pipeline_is_compared_with_the_target_branch(gl_env: dict[str, Path], fake_api: FakeApi) -> None:
    project = make_project(gl_env, "gitlab-ci.yml", {"support.yaml": SUPPORT})
    ci = project / ".gitlab-ci.yml"
    # the response cache off: the double answers differently per pipeline under the same model name, and the shell
    # executor runs every pipeline in this one directory, so .helm-eval/ would replay main's answers to the MR
    inputs = 'fail-on: regression\n      cache: "off"'
    ci.write_text(ci.read_text().replace("fail-on: failure", inputs), encoding="utf-8")
    path = f"{gl_env['venv'] / 'bin'}{os.pathsep}{os.environ['PATH']}"
    run_env = {**os.environ, "PATH": path, "VIRTUAL_ENV": str(gl_env["venv"])}
    with VLLMDouble(rules=[("reach a human", "please email us")]) as double:  # escalation fails on main already
        # the default branch's pipeline: runs because baseline is auto, keeps run.json as an artifact. Its gate is
        # red (a failing case, and no baseline for fail-on regression), yet the pipeline must succeed: GitLab
        # serves /jobs/artifacts/<branch>/raw/… only from the branch's latest successful pipeline
        main = default_branch_pipeline(gl_env, project, double.base_url, fake_api, run_env)
        assert "pytest exit status: 1" in main.stdout, (main.stdout + main.stderr)[-3000:]
        assert job_exit(main) == ("WARN", 77), (main.stdout + main.stderr)[-3000:]  # else MRs get no baseline
        assert "exit 77 (allowed to fail) so this run record stays the baseline" in main.stdout
        double.set(rules=[("reach a human", "please email us"), ("refund", "no idea")])  # refund regresses
        proc = run_pipeline(gl_env, project, double.base_url, f"HELM_EVAL_GITLAB_TOKEN={TOKEN}",
                            f"CI_API_V4_URL={fake_api.url}/api/v4", "CI_PROJECT_ID=1234",
                            "CI_MERGE_REQUEST_TARGET_BRANCH_NAME=main", "CI_DEFAULT_BRANCH=main")  # fmt: skip
        log = proc.stdout + proc.stderr
        assert job_exit(proc) == ("FAIL", 1), log[-3000:]
        assert "check failed (fail-on regression): 1 new failure(s) against the baseline" in log
        fetched = [r for r in fake_api.requests if "/jobs/artifacts/" in r.path]
        assert fetched
        assert fetched[0].path.endswith("run.json?job=helm-eval")
        note = fake_api.writes()[-1].body["body"]
        assert "| ❌ regressed | suites/support.yaml&#58;4 | refund | passed | failed |" in note
        assert "failed (already failing in the base)" in note
        assert_markdown_inert(note)
        # the regression fixed: the old failure alone does not fail the MR pipeline
        double.set(rules=[("reach a human", "please email us")])
        again = run_pipeline(gl_env, project, double.base_url, f"CI_API_V4_URL={fake_api.url}/api/v4",
                             "CI_PROJECT_ID=1234", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME=main")  # fmt: skip
        assert job_exit(again) == ("", 0), (again.stdout + again.stderr)[-3000:]
        assert "check passed (fail-on regression)" in again.stdout + again.stderr
        # a default-branch run that broke (a suite that does not load: pytest exit status 4) fails its pipeline
        # for real; GitLab keeps serving the last judged record, so merge requests keep their baseline
        served = fake_api.files[ARTIFACT]
        broken = default_branch_pipeline(gl_env, project, double.base_url, fake_api, run_env,
                                         "HELM_EVAL_SHARD=3/2")  # fmt: skip
        assert job_exit(broken)[0] == "FAIL", (broken.stdout + broken.stderr)[-3000:]
        assert "exit 77" not in broken.stdout
        assert fake_api.files[ARTIFACT] == served


def test_a_cache_the_merge_request_commits_is_not_read(gl_env: dict[str, Path], fake_api: FakeApi) -> None:
    """Answers that pass, committed in .helm-eval/ by the merge request, are removed: the model is asked."""
    project = make_project(gl_env, "gitlab-ci-include.yml", {"fails.yaml": FAILS})
    plant_answers(project, [("10 minus 3", "seven")])
    with VLLMDouble() as model:  # echoes the prompt: no "seven"
        proc = run_pipeline(gl_env, project, model.base_url, f"CI_API_V4_URL={fake_api.url}/api/v4")
        asked = [r for r in model.requests if r.path == "/v1/chat/completions"]
    log = proc.stdout + proc.stderr
    assert job_exit(proc) == ("FAIL", 1), log[-3000:]  # judged on the model's answer
    assert len(asked) == 1
    assert "the repository holds files in .helm-eval/; they were removed before the run" in log
