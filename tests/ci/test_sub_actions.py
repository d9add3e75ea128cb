"""The sub-actions run for real under act in consumer workflows: actions/report merges two shards' run records and
publishes them (outputs, annotations, summary, PR comment to the API stand-in); actions/serve starts the real vLLM
(smollm2 on CPU) for the main action and stops it again, leaving no process behind."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

import pytest

from fixtures.vllm_double import VLLMDouble
from tests.ci._support import FakeApi, assert_markdown_inert
from tests.ci.test_github_action import SUITES, TOKEN, ActRun, act_env, make_consumer, run_act

__all__ = ["act_env"]  # the module-scoped fixture, shared with test_github_action

pytestmark = pytest.mark.ci

CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683  # v4.2.2"

# A sharded run in one job (what a matrix does over several): each shard runs the main action with the comment
# off, keeps its run record, and actions/report merges and publishes them.
REPORT_WORKFLOW = f"""\
    name: helm-eval sharded
    on:
      pull_request:
    permissions: {{}}
    jobs:
      evals:
        runs-on: ubuntu-latest
        permissions:
          contents: read
          pull-requests: write
        steps:
          - uses: {CHECKOUT}
            with:
              persist-credentials: false
    {{shards}}
          - id: report
            uses: helm-eval/helm-eval/actions/report@v1
            with:
              records: shards/*/run.json
          - name: Merged outputs
            env:
              PASSED: ${{{{ steps.report.outputs.passed }}}}
              FAILED: ${{{{ steps.report.outputs.failed }}}}
              REPORT: ${{{{ steps.report.outputs.report }}}}
            run: echo "merged passed=$PASSED failed=$FAILED report=$REPORT"
"""
SHARD = """\
          - id: shard{n}
            uses: helm-eval/helm-eval@v1
            with:
              suites: {suites}
              endpoint: ${{{{ vars.HELM_EVAL_ENDPOINT }}}}
              cache: "off"
              comment: "off"
              fail-on: never
              artifact-name: helm-eval-{n}
          - name: Keep shard {n}
            env:
              REPORT: ${{{{ steps.shard{n}.outputs.report }}}}
            run: mkdir -p shards/{n} && cp "$REPORT" shards/{n}/run.json
"""

# docs/github.md's serve example: start vLLM, run the suites against its endpoint, stop it in an always() step.
# HELM_EVAL_VLLM_PYTHON / HELM_EVAL_CACHE tell `helm-eval serve` where vLLM and the prepared model are.
SERVE_WORKFLOW = f"""\
    name: helm-eval on vLLM
    on:
      pull_request:
    permissions: {{}}
    jobs:
      evals:
        runs-on: ubuntu-latest
        timeout-minutes: 15
        permissions:
          contents: read
        steps:
          - uses: {CHECKOUT}
            with:
              persist-credentials: false
          - id: vllm
            uses: helm-eval/helm-eval/actions/serve@v1
            env:
              HELM_EVAL_VLLM_PYTHON: ${{{{ vars.HELM_EVAL_VLLM_PYTHON }}}}
              HELM_EVAL_CACHE: ${{{{ vars.HELM_EVAL_CACHE }}}}
            with:
              model: smollm2
              ready-timeout: "300"
          - id: helm-eval
            uses: helm-eval/helm-eval@v1
            with:
              suites: suites
              endpoint: ${{{{ steps.vllm.outputs.endpoint }}}}
              cache: "off"
              comment: "off"
          - name: Served by
            env:
              ENDPOINT: ${{{{ steps.vllm.outputs.endpoint }}}}
              SERVE_PID: ${{{{ steps.vllm.outputs.pid }}}}
            run: echo "served at $ENDPOINT by pid $SERVE_PID"
          - if: always()
            uses: helm-eval/helm-eval/actions/serve@v1
            with:
              stop: "true"
"""
MATH_SUITE = """\
    description: one question for the real model
    prompts: ["{{q}}"]
    tests:
      - id: add
        vars: {q: "What is 2+2?"}
        options: {temperature: 0, max_tokens: 32}
        assert: [{type: contains, value: "4"}]
"""


def step_events(run: ActRun, step: str, command: str) -> list[dict[str, object]]:
    """The workflow commands of one step of the consumer workflow (any step inside it when it is an action)."""
    return [e for e in run.commands(command) if (e.get("stepID") or [None])[0] == step]


def survivors(marker: str) -> dict[int, str]:
    """Live processes (pid: command line) whose environment mentions ``marker`` (a path only the act run used)."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if marker.encode() in (proc / "environ").read_bytes():
                found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
    return found


def reap(marker: str, wait: float = 15) -> dict[int, str]:
    """The processes of the act run still alive after ``wait`` seconds; they are then killed (the test failed)."""
    deadline = time.monotonic() + wait
    while (left := survivors(marker)) and time.monotonic() < deadline:
        time.sleep(0.5)
    for pid in left:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


def test_report_merges_two_shards_and_publishes(act_env: dict[str, Path], fake_api: FakeApi) -> None:
    suites = {"chat/ok.yaml": SUITES["ok.yaml"], "chat/more.yaml": SUITES["ok.yaml"].replace("echoes", "echoes-too"),
              "tools/ok.yaml": SUITES["ok.yaml"], "tools/fails.yaml": SUITES["fails.yaml"]}  # fmt: skip
    shards = "".join(SHARD.format(n=n, suites=path) for n, path in enumerate(["suites/chat", "suites/tools"]))
    workflow = REPORT_WORKFLOW.replace("    {shards}\n", shards)
    with VLLMDouble() as double:
        run = run_act(act_env, make_consumer(act_env["root"], suites, workflow), double.base_url, fake_api)
    log = run.messages()
    assert run.status == 0, log[-3000:]  # fail-on: never in the shards and (by default) in actions/report

    # each shard's own outputs, then the merged ones: the totals are the sums
    assert (run.outputs(["shard0"])["passed"], run.outputs(["shard0"])["failed"]) == ("2", "0")
    assert (run.outputs(["shard1"])["passed"], run.outputs(["shard1"])["failed"]) == ("1", "1")
    merged = run.outputs(["report"])
    assert (merged["passed"], merged["failed"], merged["skipped"]) == ("3", "1", "0")
    assert merged["pass-rate"] == "0.7500"
    shard_tokens = int(run.outputs(["shard0"])["tokens"]) + int(run.outputs(["shard1"])["tokens"])
    assert int(merged["tokens"]) == shard_tokens > 0
    assert merged["report"].endswith("helm-eval-merged/run.json")
    assert "merged passed=3 failed=1 report=" in log

    # the report step annotates the failing suite line
    errors = step_events(run, "report", "error")
    assert [(e["kvPairs"].get("file"), e["kvPairs"].get("line")) for e in errors] == [("suites/tools/fails.yaml", "4")]
    assert "wrong-answer" in errors[0]["arg"]

    # its job summary covers both shards' suites (act reports the summary file again for the enclosing step)
    summaries = [e for e in run.commands("summary") if e.get("stepID") == ["report", "publish"]]
    assert len(summaries) == 1
    summary = str(summaries[0]["content"])
    assert "3 passed, 1 failed" in summary
    for suite in ("suites/chat/ok.yaml", "suites/chat/more.yaml", "suites/tools/ok.yaml", "suites/tools/fails.yaml"):
        assert suite.replace("/", "&#47;") in summary or suite in summary, suite
    assert_markdown_inert(summary)

    # one PR comment, created by the report step only (the shards had comment off)
    body = fake_api.one_new_comment(TOKEN)
    assert "3 passed, 1 failed" in body
    assert "wrong&#45;answer" in body
    print(f"actions/report under act: {run.seconds:.1f} s")


def test_serve_starts_vllm_for_the_suites_and_stops_it(
    vllm_python: str, model_dir: Path, act_env: dict[str, Path], fake_api: FakeApi
) -> None:
    # vLLM and the model are found as the integration tier finds them: skipped without them, failed under
    # HELM_EVAL_REQUIRE_VLLM=1
    cache = model_dir.parent.parent  # $HELM_EVAL_CACHE/models/<model>
    consumer = make_consumer(act_env["root"], {"math.yaml": MATH_SUITE}, SERVE_WORKFLOW)
    extra = ["--var", f"HELM_EVAL_VLLM_PYTHON={vllm_python}", "--var", f"HELM_EVAL_CACHE={cache}"]
    marker = str(consumer.parent / f"{consumer.name}-cache")  # act's XDG cache dir: in every step's environment
    try:
        run = run_act(act_env, consumer, "", fake_api, extra, timeout=900)
    finally:
        left = reap(marker)
    log = run.messages()
    assert not left, f"processes of the workflow outlived act: {left}"
    assert run.status == 0, log[-5000:]

    # the serve step's outputs, used by the next steps
    served = run.outputs(["vllm"])
    assert served["endpoint"].startswith("http://127.0.0.1:")
    assert served["endpoint"].endswith("/v1")
    pid = int(served["pid"])
    assert f"served at {served['endpoint']} by pid {pid}" in log
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)

    # the suite passed against the real server: the model answered (tokens counted), nothing was skipped
    outputs = run.outputs(["helm-eval"])
    assert (outputs["passed"], outputs["failed"], outputs["skipped"]) == ("1", "0", "0"), log[-5000:]
    assert int(outputs["tokens"]) > 0
    assert "check passed (fail-on failure): all cases passed" in log
    summary = next(e for e in run.commands("summary") if e.get("stepID") == ["helm-eval", "publish"])["content"]
    assert "| smollm2 | 1 |" in summary  # the model vLLM served under its short name answered the call

    # the always() step stopped it
    assert f"helm-eval serve (pid {pid}) stopped" in log
    assert not fake_api.writes()
    print(f"actions/serve + suite on vLLM under act: {run.seconds:.1f} s")
