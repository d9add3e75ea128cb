"""The GitHub Action (action.yml) run for real under act, in the example consumer workflow, against the vLLM
double; the PR comment goes to a local stand-in for the REST API (GITHUB_API_URL)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fixtures.vllm_double import VLLMDouble
from tests.ci._support import (
    ADVERSARIAL,
    EVIL_COMMANDS,
    REPO,
    FakeApi,
    assert_markdown_inert,
    clean_copy,
    git_init,
    tool,
)

pytestmark = pytest.mark.ci

WORKFLOW = REPO / "docs" / "examples" / "github-workflow.yml"
PINS = {  # the SHAs action.yml and the example pin, each replaced by a stub that records its inputs
    "actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065": "setup-python",
    "actions/cache@5a3ec84eff668545956fd18022155c47e93e2684": "cache",
    "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02": "upload-artifact",
}
STUB = """\
name: stub
description: records its inputs in $STUB_LOG
inputs:
{inputs}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        STUB_INPUTS: ${{{{ toJSON(inputs) }}}}
        STUB_NAME: {name}
      run: printf '%s\\t%s\\n' "$STUB_NAME" "$(printf '%s' "$STUB_INPUTS" | tr -d '\\n')" >> "$STUB_LOG"
"""
STUB_INPUTS = {
    "setup-python": ["python-version"],
    "cache/restore": ["path", "key", "restore-keys"],
    "cache/save": ["path", "key"],
    "upload-artifact": ["name", "path", "if-no-files-found"],
}
SECRET = "sk-test-4b1d-secret"
TOKEN = "ghs_testtoken123"

SUITES = {
    "ok.yaml": """\
        description: answers that pass
        prompts: ["{{q}}"]
        tests:
          - id: echoes
            vars: {q: "hello world"}
            assert: [{type: contains, value: hello}]
    """,
    "fails.yaml": """\
        description: a case that fails on purpose
        prompts: ["{{q}}"]
        tests:
          - id: wrong-answer
            vars: {q: "What is 10 minus 3?"}
            assert:
              - {type: regex, value: "\\\\bseven\\\\b"}
    """,
    "evil.yaml": """\
        description: "hostile text | <b>bold</b> ::warning::from-description"
        prompts: ["{{q}}"]
        tests:
          - id: "inject %0A::warning::from-id <b>x</b> | y"
            vars: {q: "ADVERSARIAL please"}
            options: {max_tokens: 4000}
            assert:
              - {type: contains, value: "a safe answer"}
    """,
}


@dataclass
class ActRun:
    status: int
    events: list[dict[str, Any]]
    stubs: list[tuple[str, dict[str, Any]]]
    summary: str
    seconds: float

    def commands(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("command") == name]

    def messages(self) -> str:
        return "\n".join(str(e.get("msg", "")) for e in self.events)

    def outputs(self, step: list[str]) -> dict[str, str]:
        return {e["name"]: e["arg"] for e in self.commands("set-output") if e.get("stepID") == step}


@pytest.fixture(scope="module")
def act_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tool("act")
    root = tmp_path_factory.mktemp("act")
    action = clean_copy(root / "action")
    stubs = root / "stubs"
    for path, inputs in STUB_INPUTS.items():
        target = stubs / path
        target.mkdir(parents=True)
        lines = "\n".join(f"  {name}: {{description: {name}, default: ''}}" for name in inputs)
        (target / "action.yml").write_text(STUB.format(inputs=lines, name=path), encoding="utf-8")
    return {"root": root, "action": action, "stubs": stubs}


def make_consumer(root: Path, suites: dict[str, str], workflow: str | None = None) -> Path:
    """A consumer project with ``suites`` and the example workflow (or ``workflow``'s text), committed."""
    consumer = root / f"consumer-{len(list(root.glob('consumer-*')))}"
    (consumer / ".github" / "workflows").mkdir(parents=True)
    target = consumer / ".github" / "workflows" / "helm-eval.yml"
    if workflow is None:
        shutil.copy(WORKFLOW, target)
    else:
        target.write_text(textwrap.dedent(workflow), encoding="utf-8")
    for name, text in suites.items():
        path = consumer / "suites" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    git_init(consumer, "https://github.com/acme/app.git")
    return consumer


def run_act(
    env: dict[str, Path], consumer: Path, endpoint: str, api: FakeApi, extra: Sequence[str] = (), timeout: float = 600
) -> ActRun:
    """Run the consumer's workflow on a pull_request event; ``extra`` are more act arguments (``--var``, ``--env``)."""
    act = tool("act")
    event = consumer.parent / f"{consumer.name}-event.json"
    event.write_text(json.dumps({
        "action": "synchronize",
        "number": 42,
        "pull_request": {"number": 42, "head": {"ref": "feature", "repo": {"full_name": "acme/app"}},
                         "base": {"ref": "main", "repo": {"full_name": "acme/app"}}},
        "repository": {"full_name": "acme/app", "default_branch": "main"},
    }), encoding="utf-8")  # fmt: skip
    stub_log = consumer.parent / f"{consumer.name}-stubs.log"
    stub_log.touch()
    cache_home = consumer.parent / f"{consumer.name}-cache"
    args = [act, "pull_request", "-P", "ubuntu-latest=-self-hosted", "-e", str(event), "--no-cache-server", "--json",
            "--local-repository", f"helm-eval/helm-eval@v1={env['action']}",
            "--var", f"HELM_EVAL_ENDPOINT={endpoint}",
            "-s", f"HELM_EVAL_API_KEY={SECRET}", "-s", f"GITHUB_TOKEN={TOKEN}",
            "--env", f"GITHUB_API_URL={api.url}", "--env", f"STUB_LOG={stub_log}"]  # fmt: skip
    for pin, stub in PINS.items():
        args += ["--local-repository", f"{pin}={env['stubs'] / stub}"]
    pip_cache = os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    args += ["--env", f"PIP_CACHE_DIR={pip_cache}", *extra]
    started = time.monotonic()
    # act keeps its host-executor workspaces under the XDG cache dir: one per test, removed with tmp_path
    proc = subprocess.run(
        args,
        cwd=consumer,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "XDG_CACHE_HOME": str(cache_home)},
    )
    seconds = time.monotonic() - started
    (consumer.parent / f"{consumer.name}-act.jsonl").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    stubs = []
    for line in stub_log.read_text(encoding="utf-8").splitlines():
        name, _, data = line.partition("\t")
        stubs.append((name, json.loads(data)))
    print(f"act run: {seconds:.1f} s, exit status {proc.returncode}")
    # act reads $GITHUB_STEP_SUMMARY after each step and reports it as a "summary" event
    summary = "".join(str(e.get("content", "")) for e in events if e.get("command") == "summary")
    return ActRun(proc.returncode, events, stubs, summary, seconds)


def test_failing_and_hostile_suites_publish_then_fail(act_env: dict[str, Path], fake_api: FakeApi) -> None:
    fake_api.existing = [
        {"id": 5, "body": "LGTM", "user": {"login": "someone", "type": "User"}},
        {
            "id": 7,
            "body": "<!-- helm-eval:report -->\nold report",
            "user": {"login": "github-actions[bot]", "type": "Bot"},
        },
    ]
    with VLLMDouble(rules=[("ADVERSARIAL", ADVERSARIAL)]) as double:
        run = run_act(act_env, make_consumer(act_env["root"], SUITES), double.base_url, fake_api)
    log = run.messages()
    assert run.status != 0, log[-3000:]

    # the step failed only after publishing: the publish, upload and cache-save steps ran, the check failed last
    assert "Success - Main Publish results" in log
    assert "Failure - Main helm-eval/helm-eval@v1" in log
    assert "check failed (fail-on failure): 2 case(s) failed" in log
    # the ledger and response cache, then (baseline: auto on a pull request) the base branch's run record
    assert [name for name, _ in run.stubs] == ["cache/restore", "cache/restore", "upload-artifact", "cache/save"]
    restore, baseline = run.stubs[0][1], run.stubs[1][1]
    assert baseline["key"].startswith("helm-eval-baseline-main-")
    assert baseline["restore-keys"] == "helm-eval-baseline-main-"
    assert not baseline["path"].startswith(".")  # outside the checkout
    assert restore["path"] == ".helm-eval/"
    assert restore["key"].startswith("helm-eval-pr-42-")
    assert restore["restore-keys"].startswith("helm-eval-pr-42-\n")
    assert dict(run.stubs)["cache/save"]["key"] == restore["key"]

    # annotations on the failing suite lines, most important first, with file and line
    errors = run.commands("error")
    located = {(e["kvPairs"].get("file"), e["kvPairs"].get("line")) for e in errors}
    assert located == {("suites/fails.yaml", "4"), ("suites/evil.yaml", "4")}
    assert all(len(e["arg"]) < 2000 for e in errors)

    # outputs of the action, as a later step of the consumer workflow sees them
    assert "passed=1 failed=2 pass-rate=0.3333" in log
    outputs = run.outputs(["helm-eval"])
    assert outputs["passed"] == "1"
    assert outputs["failed"] == "2"
    assert outputs["skipped"] == "0"
    assert int(outputs["tokens"]) > 0
    assert outputs["report"].endswith("run.json")
    assert 0 < int(outputs["budget-remaining"]) < 200_000

    # the job summary: per-suite table, budget, chart, failures, and the hostile text inert
    summary = run.summary
    assert "### Suites" in summary
    assert "### Budget" in summary
    assert "```mermaid" in summary
    assert "suites/fails.yaml&#58;4" in summary
    assert "wrong&#45;answer" in summary
    assert_markdown_inert(summary)
    # the HTML report: written next to the run record (so uploaded with it) and linked from summary and comment
    assert "/report.html (" in log
    html_link = "[report.html](https://github.com/acme/app/actions/runs/"
    assert html_link in summary

    # the sticky comment: found by its marker and edited in place through the API stand-in
    writes = fake_api.writes()
    assert [(w.method, w.path) for w in writes] == [("PATCH", "/repos/acme/app/issues/comments/7")]
    assert writes[0].headers["authorization"] == f"Bearer {TOKEN}"
    body = writes[0].body["body"]
    assert body.startswith("<!-- helm-eval:report -->")
    assert len(body) <= 65_536
    assert body.count("<!-- helm-eval:report -->") == 1
    assert html_link in body
    assert_markdown_inert(body)

    # nothing the model or the suite wrote became a workflow command; the key never reached the log
    for event in run.events:
        text = json.dumps({k: v for k, v in event.items() if k != "raw" or event.get("command") != "add-mask"})
        for evil in EVIL_COMMANDS:
            if event.get("command"):
                assert evil not in str(event.get("name", "")) + json.dumps(event.get("kvPairs", {}))
        if event.get("command") in ("set-output", "add-mask", "stop-commands", "notice"):
            assert not any(evil in text for evil in EVIL_COMMANDS), text[:500]
        assert SECRET not in str(event.get("msg", ""))
    masks = {e["arg"] for e in run.commands("add-mask")}
    assert masks == {SECRET, TOKEN}
    assert not [e for e in run.commands("warning") if "smuggled" in e["arg"] or "from-" in e["arg"]]
    assert all(e["kvPairs"].get("file", "suites/").startswith("suites/") for e in run.commands("error"))
    assert "pwned" not in run.outputs(["helm-eval"])


def test_fork_pull_request_falls_back_to_the_summary(act_env: dict[str, Path], fake_api: FakeApi) -> None:
    fake_api.deny = True  # a fork's read-only token: 403 on every API call
    with VLLMDouble() as double:
        run = run_act(act_env, make_consumer(act_env["root"], {"ok.yaml": SUITES["ok.yaml"]}), double.base_url,
                      fake_api)  # fmt: skip
    log = run.messages()
    assert run.status == 0, log[-3000:]
    assert "check passed (fail-on failure): all cases passed" in log
    assert fake_api.requests
    assert not fake_api.writes()
    warnings = [e["arg"] for e in run.commands("warning")]
    assert any("PR comment not posted" in w and "read-only token" in w for w in warnings)
    assert "PR comment not posted" in run.summary
    assert "this summary is the report" in run.summary
    assert run.outputs(["helm-eval"])["pass-rate"] == "1.0000"
