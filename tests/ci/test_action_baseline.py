"""The action's ``baseline: auto`` under act: a push to the default branch keeps its run record, a pull request
whose model answers differ is compared with it, and ``fail-on: regression`` is red only for new failures.

actions/cache is replaced by a stub that really saves and restores directories (under ``STUB_CACHE``), so the
record travels from the push run to the pull request run as it would on GitHub. The workflow checks the project out
as a real one must: without actions/checkout the workspace is empty and pytest finds no suites.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fixtures.vllm_double import VLLMDouble
from tests.ci._support import FakeApi, assert_markdown_inert, clean_copy, tool
from tests.ci.test_github_action import PINS, SECRET, STUB, TOKEN, make_consumer

pytestmark = pytest.mark.ci

CACHE_STUB = """\
name: stub
description: a local actions/cache/{kind}
inputs:
  path: {{description: path, default: ''}}
  key: {{description: key, default: ''}}
  restore-keys: {{description: restore-keys, default: ''}}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        STUB_INPUTS: ${{{{ toJSON(inputs) }}}}
        CACHE_PATH: ${{{{ inputs.path }}}}
        CACHE_KEY: ${{{{ inputs.key }}}}
        RESTORE_KEYS: ${{{{ inputs.restore-keys }}}}
      run: |
        printf '%s\\t%s\\n' "cache/{kind}" "$(printf '%s' "$STUB_INPUTS" | tr -d '\\n')" >> "$STUB_LOG"
        {script}
"""
SAVE = (
    '[ -e "$CACHE_PATH" ] && mkdir -p "$STUB_CACHE/$CACHE_KEY" '
    '&& cp -a "$CACHE_PATH/." "$STUB_CACHE/$CACHE_KEY/" || true'
)
RESTORE = (
    'prefix=$(printf "%s" "$RESTORE_KEYS" | head -n1); '
    'hit=$(ls -1t "$STUB_CACHE" 2>/dev/null | grep -F -x -- "$CACHE_KEY" || '
    'ls -1t "$STUB_CACHE" 2>/dev/null | while read -r k; do case "$k" in "$prefix"*) echo "$k"; break;; esac; done); '
    '[ -n "$hit" ] && mkdir -p "$CACHE_PATH" && cp -a "$STUB_CACHE/$hit/." "$CACHE_PATH/" || true'
)
SUITE = """\
    description: support answers
    prompts: ["Answer: {{q}}"]
    tests:
      - id: refund
        vars: {q: "refund window"}
        assert: [{type: contains, value: "refund"}]
      - id: hours
        vars: {q: "opening hours"}
        assert: [{type: contains, value: "hours"}]
      - id: escalation
        vars: {q: "reach a human"}
        assert: [{type: contains, value: "call us"}]
"""
WORKFLOW = """\
    name: helm-eval
    on: {pull_request: {}, push: {branches: [main]}}
    permissions: {}
    jobs:
      evals:
        runs-on: ubuntu-latest
        permissions: {contents: read, pull-requests: write}
        steps:
          - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683  # v4.2.2
            with: {persist-credentials: false}
          - id: helm-eval
            uses: helm-eval/helm-eval@v1
            with:
              suites: suites
              endpoint: ${{ vars.HELM_EVAL_ENDPOINT }}
              fail-on: regression
              cache: "off"
"""


@pytest.fixture(scope="module")
def stubs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tool("act")
    root = tmp_path_factory.mktemp("act-baseline")
    action = clean_copy(root / "action")
    stub_dir = root / "stubs"
    for kind, script in (("restore", RESTORE), ("save", SAVE)):
        (stub_dir / "cache" / kind).mkdir(parents=True)
        (stub_dir / "cache" / kind / "action.yml").write_text(CACHE_STUB.format(kind=kind, script=script))
    for name in ("setup-python", "upload-artifact"):
        (stub_dir / name).mkdir(parents=True)
        inputs = "\n".join(f"  {n}: {{description: {n}, default: ''}}" for n in ("python-version", "name", "path",
                                                                                   "if-no-files-found"))  # fmt: skip
        (stub_dir / name / "action.yml").write_text(STUB.format(inputs=inputs, name=name), encoding="utf-8")
    return {"root": root, "action": action, "stubs": stub_dir, "cache": root / "cache"}


def _act(env: dict[str, Path], consumer: Path, event_name: str, event: dict[str, Any], endpoint: str,
         api: FakeApi) -> tuple[int, list[dict[str, Any]], list[str]]:  # fmt: skip
    act = tool("act")
    event_file = consumer.parent / f"{consumer.name}-{event_name}.json"
    event_file.write_text(json.dumps(event), encoding="utf-8")
    stub_log = consumer.parent / f"{consumer.name}-{event_name}-stubs.log"
    stub_log.touch()
    args = [act, event_name, "-P", "ubuntu-latest=-self-hosted", "-e", str(event_file), "--no-cache-server",
            "--json", "--local-repository", f"helm-eval/helm-eval@v1={env['action']}",
            "--var", f"HELM_EVAL_ENDPOINT={endpoint}", "-s", f"HELM_EVAL_API_KEY={SECRET}",
            "-s", f"GITHUB_TOKEN={TOKEN}", "--env", f"GITHUB_API_URL={api.url}", "--env", f"STUB_LOG={stub_log}",
            "--env", f"STUB_CACHE={env['cache']}"]  # fmt: skip
    for pin, stub in PINS.items():
        args += ["--local-repository", f"{pin}={env['stubs'] / stub}"]
    pip_cache = os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    args += ["--env", f"PIP_CACHE_DIR={pip_cache}"]
    if event_name == "push":
        args += ["--env", "GITHUB_REF=refs/heads/main", "--env", "GITHUB_REF_NAME=main"]
    proc = subprocess.run(args, cwd=consumer, capture_output=True, text=True, timeout=900, check=False,
                          env={**os.environ, "XDG_CACHE_HOME": str(consumer.parent / f"{event_name}-xdg")})  # fmt: skip
    (consumer.parent / f"{consumer.name}-{event_name}-act.jsonl").write_text(proc.stdout + proc.stderr)
    events = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    stubbed = [line.split("\t")[0] for line in stub_log.read_text(encoding="utf-8").splitlines()]
    return proc.returncode, events, stubbed


def _log(events: list[dict[str, Any]]) -> str:
    return "\n".join(str(e.get("msg", "")) for e in events)


def test_push_keeps_the_baseline_and_a_pull_request_fails_only_for_new_failures(
    stubs: dict[str, Path], fake_api: FakeApi
) -> None:
    consumer = make_consumer(stubs["root"], {"support.yaml": SUITE}, WORKFLOW)
    repo = {"full_name": "acme/app", "default_branch": "main"}
    with VLLMDouble(rules=[("reach a human", "please email us")]) as double:  # escalation fails on main already
        status, events, stubbed = _act(stubs, consumer, "push", {"ref": "refs/heads/main", "repository": repo},
                                       double.base_url, fake_api)  # fmt: skip
        log = _log(events)
        # main's run fails (escalation) under fail-on regression without a baseline: judged as failure
        assert status != 0, log[-3000:]
        assert stubbed == ["upload-artifact", "cache/save"], stubbed
        saved = list(stubs["cache"].glob("helm-eval-baseline-main-*/run.json"))
        assert len(saved) == 1, list(stubs["cache"].iterdir())
        # the kept record is a complete run of the checked-out suites (not a run that found nothing to collect)
        kept = json.loads(saved[0].read_text(encoding="utf-8"))
        assert {c["nodeid"]: c["status"] for c in kept["cases"]} == {
            "suites/support.yaml::refund": "passed",
            "suites/support.yaml::hours": "passed",
            "suites/support.yaml::escalation": "failed",
        }, log[-3000:]

        # a later push whose run breaks (its suite does not parse) keeps nothing: the good record stays the newest
        broken = make_consumer(stubs["root"], {"support.yaml": "tests: [unclosed\n"}, WORKFLOW)
        status, events, stubbed = _act(stubs, broken, "push", {"ref": "refs/heads/main", "repository": repo},
                                       double.base_url, fake_api)  # fmt: skip
        log = _log(events)
        assert status != 0, log[-3000:]
        exit_status = re.search(r"pytest exit status: (\d+)", log)
        assert exit_status, log[-3000:]
        assert exit_status.group(1) not in ("0", "1"), log[-3000:]
        assert stubbed == ["upload-artifact"], stubbed
        assert list(stubs["cache"].glob("helm-eval-baseline-main-*/run.json")) == saved

        pr = {"action": "synchronize", "number": 42, "repository": repo,
              "pull_request": {"number": 42, "head": {"ref": "feature", "repo": {"full_name": "acme/app"}},
                               "base": {"ref": "main", "repo": {"full_name": "acme/app"}}}}  # fmt: skip
        # the pull request's model answers differently: refund regresses, escalation still fails
        double.set(rules=[("reach a human", "please email us"), ("refund", "no idea")])
        status, events, stubbed = _act(stubs, consumer, "pull_request", pr, double.base_url, fake_api)
        log = _log(events)
        assert status != 0, log[-3000:]
        assert stubbed == ["cache/restore", "upload-artifact"], stubbed  # the baseline restored, nothing saved
        assert "check failed (fail-on regression): 1 new failure(s) against the baseline" in log
        comment = fake_api.writes()[-1].body["body"]
        assert "| ❌ regressed | suites/support.yaml&#58;4 | refund | passed | failed |" in comment
        assert "failed (already failing in the base)" in comment
        assert_markdown_inert(comment)

        # the same pull request with the regression fixed: only the old failure is left, and the check is green
        double.set(rules=[("reach a human", "please email us")])
        status, events, _ = _act(stubs, consumer, "pull_request", pr, double.base_url, fake_api)
        log = _log(events)
        assert status == 0, log[-3000:]
        assert "check passed (fail-on regression): no new failures against the baseline" in log
