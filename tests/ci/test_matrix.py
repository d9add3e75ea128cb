"""A sharded matrix under act, as docs/examples/github-matrix-workflow.yml runs it: two jobs of the main action
(`shard: N/2`) against the vLLM double, sharing one PostgreSQL ledger and so one pull-request budget, each
uploading its run record; then a report job that downloads both and publishes them once with actions/report.

actions/upload-artifact and download-artifact are replaced by composite stand-ins that copy to and from one
directory (act's own artifact server would need the real actions, which live on GitHub)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from fixtures.vllm_double import VLLMDouble
from helm_eval.collect import Shard
from tests.ci._support import REPO, FakeApi, assert_markdown_inert
from tests.ci.test_github_action import TOKEN, ActRun, act_env, make_consumer, run_act
from tests.ledger.conftest import PostgresCluster, postgres

__all__ = ["act_env", "postgres"]  # fixtures shared with the modules they come from

pytestmark = pytest.mark.ci

WORKFLOW = REPO / "docs" / "examples" / "github-matrix-workflow.yml"
DOWNLOAD_PIN = "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093"
UPLOAD = """\
name: upload-artifact stand-in
description: records its inputs in $STUB_LOG and copies path into $ARTIFACT_DIR/<name>
inputs:
  name: {description: name, default: artifact}
  path: {description: path, default: ''}
  if-no-files-found: {description: if-no-files-found, default: warn}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        STUB_INPUTS: ${{ toJSON(inputs) }}
        NAME: ${{ inputs.name }}
        SOURCE: ${{ inputs.path }}
      run: |
        printf '%s\\t%s\\n' upload-artifact "$(printf '%s' "$STUB_INPUTS" | tr -d '\\n')" >> "$STUB_LOG"
        mkdir -p "$ARTIFACT_DIR/$NAME" && cp -R "$SOURCE/." "$ARTIFACT_DIR/$NAME/"
"""
DOWNLOAD = """\
name: download-artifact stand-in
description: copies the artifacts matching pattern from $ARTIFACT_DIR into path/<name> (v4 without merge-multiple)
inputs:
  pattern: {description: pattern, default: '*'}
  path: {description: path, default: .}
runs:
  using: composite
  steps:
    - shell: bash
      env:
        PATTERN: ${{ inputs.pattern }}
        DEST: ${{ inputs.path }}
      run: |
        shopt -s nullglob
        for artifact in "$ARTIFACT_DIR"/$PATTERN; do
          mkdir -p "$DEST/${artifact##*/}" && cp -R "$artifact/." "$DEST/${artifact##*/}/"
        done
"""
BUDGET = 112
SUITES = {
    # A passing case reserves its prompt (12 tokens by the double's /tokenize) + max_tokens 8 = 20 and spends 16; a
    # failing one reserves and spends 24 (16 + an answer cut at max_tokens). Shard 1 holds 3 passing + 1 failing
    # case (reserves 84, spends 72), shard 2 holds 2 + 1 (60, 56): each fits the cap alone, both do not (128 > 112).
    # Under a budget a shard admits all its cases at once, highest priority first: each failing case fits beside all
    # of the other shard's reservations (112 - 84 >= 24), so both failures are judged whichever shard goes first.
    "chat.yaml": """\
        description: chat answers
        prompts: ["{{q}}"]
        defaultTest: {options: {max_tokens: 8}}
        tests:
          - {id: greets, vars: {q: "hello there"}, assert: [{type: contains, value: hello}]}
          - {id: echoes, vars: {q: "hello world"}, assert: [{type: contains, value: hello}]}
          - {id: thanks, vars: {q: "hello thanks"}, assert: [{type: contains, value: hello}]}
          - id: wrong-sum
            priority: 10
            vars: {q: "What is 2 plus 3?"}
            assert: [{type: regex, value: "\\\\bfive\\\\b"}]
    """,
    "tools.yaml": """\
        description: tool answers
        prompts: ["{{q}}"]
        defaultTest: {options: {max_tokens: 8}}
        tests:
          - {id: lists, vars: {q: "hello tools"}, assert: [{type: contains, value: hello}]}
          - {id: names, vars: {q: "hello names"}, assert: [{type: contains, value: hello}]}
          - id: wrong-answer
            priority: 10
            vars: {q: "What is 10 minus 3?"}
            assert: [{type: regex, value: "\\\\bseven\\\\b"}]
    """,
}
CASE_IDS = {"chat.yaml": ["greets", "echoes", "thanks", "wrong-sum"], "tools.yaml": ["lists", "names", "wrong-answer"]}
CASES = {f"suites/{name}::{case}" for name, ids in CASE_IDS.items() for case in ids}
FAILING = {("suites/chat.yaml", "8"), ("suites/tools.yaml", "7")}  # the lines of `- id: wrong-…`


def job_events(run: ActRun, job: str, command: str, shard: int | None = None) -> list[dict[str, Any]]:
    """Workflow commands of one job (of one matrix entry)."""
    return [e for e in run.commands(command)
            if e.get("jobID") == job and (shard is None or (e.get("matrix") or {}).get("shard") == shard)]  # fmt: skip


def job_outputs(run: ActRun, job: str, step: list[str], shard: int | None = None) -> dict[str, str]:
    return {e["name"]: e["arg"] for e in job_events(run, job, "set-output", shard) if e.get("stepID") == step}


@pytest.fixture
def matrix_env(act_env: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    """act_env with stand-ins for upload-artifact (copying) and download-artifact, and the directory they share."""
    stubs = tmp_path / "stubs"
    shutil.copytree(act_env["stubs"], stubs)
    (stubs / "upload-artifact" / "action.yml").write_text(UPLOAD, encoding="utf-8")
    (stubs / "download-artifact").mkdir()
    (stubs / "download-artifact" / "action.yml").write_text(DOWNLOAD, encoding="utf-8")
    (tmp_path / "artifacts").mkdir()
    return {**act_env, "stubs": stubs, "artifacts": tmp_path / "artifacts"}


def test_two_shards_share_the_budget_and_report_once(
    matrix_env: dict[str, Path], fake_api: FakeApi, postgres: PostgresCluster
) -> None:
    import psycopg

    workflow = WORKFLOW.read_text(encoding="utf-8")
    assert workflow.count('token-budget: "200000"') == 1
    workflow = workflow.replace('token-budget: "200000"', f'token-budget: "{BUDGET}"')
    consumer = make_consumer(matrix_env["root"], SUITES, workflow)
    ledger = postgres.new_database()
    extra = ["--var", f"HELM_EVAL_LEDGER={ledger}", "-s", "HELM_EVAL_LEDGER_PASSWORD=unused-with-trust-auth",
             "--env", f"ARTIFACT_DIR={matrix_env['artifacts']}",
             "--local-repository", f"{DOWNLOAD_PIN}={matrix_env['stubs'] / 'download-artifact'}"]  # fmt: skip
    try:
        with VLLMDouble() as double:
            run = run_act(matrix_env, consumer, double.base_url, fake_api, extra)
            served = double.totals
        with psycopg.connect(ledger) as conn:
            row = conn.execute("SELECT COALESCE(SUM(tokens), 0), COUNT(*) FROM helm_eval_calls WHERE pr = '42'")
            charged, calls = row.fetchone() or (0, 0)
    finally:
        postgres.drop_database(ledger)
    log = run.messages()
    # the shards fail their checks (a failing case, a budget cut); the report job runs all the same
    assert run.status != 0, log[-3000:]
    assert "check failed (fail-on failure)" in log

    # each case ran in exactly one shard, the one helm-eval's hash assigns it to; both records carry their shard
    records = {n: json.loads((matrix_env["artifacts"] / f"helm-eval-shard-{n}" / "run.json").read_text())
               for n in (1, 2)}  # fmt: skip
    by_shard = {n: {c["nodeid"] for c in record["cases"]} for n, record in records.items()}
    assert by_shard[1] | by_shard[2] == CASES
    assert not by_shard[1] & by_shard[2]
    for n in (1, 2):
        assert by_shard[n] == {case for case in CASES if Shard(n, 2).holds(case)}
        assert records[n]["labels"]["shard"] == f"{n}/2"

    # one PR budget across both shards: the shared ledger charged no more than the cap, the server served exactly
    # what was charged, and the cases that did not fit are skipped with the budget's reason, never failed
    assert 0 < charged <= BUDGET
    assert charged == served.prompt_tokens + served.completion_tokens
    assert calls == served.requests
    cases = [c for record in records.values() for c in record["cases"]]
    skipped = [c for c in cases if c["status"] == "skipped"]
    assert skipped, "both shards' cases exceed the cap together: some must have been cut"
    assert all("budget" in (c["skip_reason"] or "") and "pull request" in c["skip_reason"] for c in skipped)
    assert {c["nodeid"] for c in cases if c["status"] == "failed"} == {
        "suites/chat.yaml::wrong-sum",
        "suites/tools.yaml::wrong-answer",
    }  # the priority cases of each shard went first
    assert sum(c["prompt_tokens"] + c["completion_tokens"] for c in cases) == charged

    # each shard saves its ledger and response cache under its own key (a shared key would drop one save)
    saves = sorted(inputs["key"] for name, inputs in run.stubs if name == "cache/save")
    assert len(saves) == 2
    assert saves[0].startswith("helm-eval-pr-42-")
    assert saves[0].endswith("-helm-eval-shard-1")
    assert saves[1].endswith("-helm-eval-shard-2")
    assert saves[0].removesuffix("-1") == saves[1].removesuffix("-2")

    # the merged outputs are the sums of the shards'
    shard_outputs = [job_outputs(run, "evals", ["helm-eval", "publish"], n) for n in (1, 2)]
    merged = job_outputs(run, "report", ["report", "publish"])
    for key in ("passed", "failed", "skipped", "tokens"):
        assert int(merged[key]) == sum(int(o[key]) for o in shard_outputs), key
    assert int(merged["passed"]) + int(merged["failed"]) + int(merged["skipped"]) == len(CASES)
    assert (merged["failed"], merged["skipped"]) == ("2", str(len(skipped)))
    assert int(merged["tokens"]) == charged
    assert f"merged passed={merged['passed']} failed=2 skipped={len(skipped)} tokens={charged}" in log

    # the report job uploads the merged run record and one HTML page holding every case of both shards
    uploaded = matrix_env["artifacts"] / "helm-eval-merged"
    assert {c["nodeid"] for c in json.loads((uploaded / "run.json").read_text())["cases"]} == CASES
    page = (uploaded / "report.html").read_text(encoding="utf-8")
    assert all(json.dumps(case)[1:-1] in page for case in CASES)
    assert merged["html"].endswith("/helm-eval-merged/report.html")

    # the report job annotates the failures at their suite lines, once each; the shards (annotations off) do not
    errors = job_events(run, "report", "error")
    assert sorted((e["kvPairs"].get("file"), e["kvPairs"].get("line")) for e in errors) == sorted(FAILING)
    assert not job_events(run, "evals", "error")
    assert not [e for e in job_events(run, "evals", "warning") if "file" in e.get("kvPairs", {})]

    # one job summary for the report job, covering both shards
    summaries = [e for e in job_events(run, "report", "summary") if e.get("stepID") == ["report", "publish"]]
    assert len(summaries) == 1
    summary = str(summaries[0]["content"])
    counts = f"{merged['passed']} passed, 2 failed, {len(skipped)} skipped"
    assert counts in summary
    assert f"**Budget exhausted:** {len(skipped)} case(s) cut and reported as skipped" in summary
    assert f"| pull request 42 | tokens | {charged} | {BUDGET} |" in summary  # one PR budget, used by both shards
    cut_warnings = [e["arg"] for e in job_events(run, "report", "warning") if "budget for pull request 42" in e["arg"]]
    assert len(cut_warnings) == len(skipped)
    assert_markdown_inert(summary)

    # one sticky PR comment, created by the report job (the shards had comment off)
    body = fake_api.one_new_comment(TOKEN)
    assert counts in body
    print(f"two-shard matrix + report under act: {run.seconds:.1f} s; charged {charged} of {BUDGET} tokens, "
          f"{len(skipped)} case(s) cut")  # fmt: skip
