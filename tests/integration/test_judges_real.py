"""Model-graded checks with SmolLM2-135M as the judge, on a real vLLM.

A 135M model is a weak judge: these tests do not require its verdicts to be right, only that the whole path
runs for real — judge prompts reach vLLM as their own calls, their tokens are counted apart (run record and
ledger agree with vLLM's counters), the judge's reason (or why its output could not be read) is shown, and a
rerun is answered from the cache.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from helm_eval.ledger import Ledger
from helm_eval.serve import VLLMServer
from tests.integration._vllm import metrics

SUITE = """
prompts: ["{{q}}"]
defaultTest: {options: {temperature: 0, max_tokens: 24}}
tests:
  - id: rubric
    vars: {q: "What is 2+2?"}
    assert: [{type: llm-rubric, value: "The answer says the result is 4"}]
  - id: geval
    vars: {q: "What is the capital of France?"}
    assert: [{type: g-eval, value: {evaluation_steps: ["Check the answer names Paris as the capital of France"]}}]
"""

# a verdict line: a real score/threshold/reason, or a clear (inconclusive) error about the judge's output
VERDICT = re.compile(
    r"^(llm-rubric|g-eval) score \d\.\d\d(, threshold [\d.]+)?.*judge: .+"
    r"|^inconclusive: judge output (is not|lacks) .+judge said: '"
)


def run(pytester: pytest.Pytester, vllm: VLLMServer, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint", vllm.base_url, *args, timeout=600
    )


def generated(vllm: VLLMServer) -> tuple[float, float]:
    values = metrics(vllm)
    return values["vllm:prompt_tokens_total"], values["vllm:generation_tokens_total"]


def test_smollm2_judges_rubric_and_g_eval_tokens_counted_reason_shown_cached_on_rerun(
    pytester: pytest.Pytester, vllm: VLLMServer
) -> None:
    path = pytester.path / "suites" / "judged.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(SUITE, encoding="utf-8")
    pytester.path.joinpath("helm-eval.yaml").write_text("judge: {max_tokens: 96}\n", encoding="utf-8")
    before = generated(vllm)
    first = run(pytester, vllm, "--helm-eval-report", "first.json")
    after = generated(vllm)
    outcomes = completed(first)
    assert sum(outcomes.values()) == 2, first.stdout.str()

    record: dict[str, Any] = json.loads((pytester.path / "first.json").read_text())
    by_id = {case["nodeid"].split("::")[-1]: case for case in record["cases"]}
    assert sorted(by_id) == ["geval", "rubric"]
    for case in by_id.values():
        [verdict] = case["verdicts"]
        assert VERDICT.search(verdict["reason"]), verdict
        assert case["judge_tokens"] > 0
    first_rows = Ledger(str(pytester.path / ".helm-eval" / "ledger.sqlite")).calls()
    judge_rows = [r for r in first_rows if r["kind"] == "judge"]
    call_rows = [r for r in first_rows if r["kind"] == "call"]
    assert len(call_rows) == 2
    # llm-rubric makes one judge call; g-eval with evaluation steps one (it stops early on unreadable output)
    assert len(judge_rows) >= 2
    assert {r["case_id"] for r in judge_rows} == {"rubric", "geval"}
    assert not [r for r in first_rows if r["cache_hit"]]
    assert sum(c["judge_tokens"] for c in by_id.values()) == sum(r["tokens"] for r in judge_rows)
    assert record["totals"]["judge_tokens"] == sum(r["tokens"] for r in judge_rows)
    # everything vLLM generated or read is accounted for, split between the cases and their judges
    spent = (after[0] - before[0]) + (after[1] - before[1])
    assert spent == record["totals"]["total_tokens"] + record["totals"]["judge_tokens"]
    _print_figures(by_id, judge_rows)

    rerun = run(pytester, vllm, "--helm-eval-report", "second.json")
    assert generated(vllm) == after, "the rerun must be answered from the cache"
    assert completed(rerun) == outcomes
    assert rerun.ret == first.ret
    second = json.loads((pytester.path / "second.json").read_text())
    assert second["totals"]["judge_tokens"] == 0
    first_runs = {r["run_id"] for r in first_rows}
    rerun_rows = [r for r in Ledger(str(pytester.path / ".helm-eval" / "ledger.sqlite")).calls()
                  if r["run_id"] not in first_runs]  # fmt: skip
    # the same calls and judge calls as the first run, every one a cache hit
    assert sorted((r["kind"], r["case_id"]) for r in rerun_rows) == sorted(
        (r["kind"], r["case_id"]) for r in first_rows
    )
    assert all(r["cache_hit"] for r in rerun_rows)


def completed(result: pytest.RunResult) -> dict[str, int]:
    """Outcome counts of a run that finished normally: a weak judge may fail a case or give no valid verdict
    (an error naming the judge), nothing else may error."""
    output = result.stdout.str() + result.stderr.str()
    assert result.ret in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED), output
    assert "Traceback" not in output
    outcomes = result.parseoutcomes()
    assert set(outcomes) <= {"passed", "failed", "errors", "deselected", "warnings"}, output
    errors = outcomes.get("errors", 0)
    assert output.count(": judge gave no valid verdict: ") >= errors, output
    return {"passed": outcomes.get("passed", 0), "failed": outcomes.get("failed", 0), "errors": errors}


def _print_figures(by_id: dict[str, Any], judge_rows: list[dict[str, Any]]) -> None:
    for case_id, case in sorted(by_id.items()):
        calls = [r for r in judge_rows if r["case_id"] == case_id]
        print(
            f"judge figures: {case_id}: {len(calls)} judge calls, {case['judge_tokens']} judge tokens, "
            f"verdict {case['verdicts'][0]['status']}: {case['verdicts'][0]['reason'][:160]!r}"
        )


def test_deepeval_leaves_no_files_and_its_plugin_stays_out(pytester: pytest.Pytester, vllm: VLLMServer) -> None:
    path = pytester.path / "suites" / "judged.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(SUITE, encoding="utf-8")
    result = run(pytester, vllm, "-k", "geval", "--helm-eval-report", "run.json")
    outcomes = completed(result)
    assert sum(outcomes.values()) == 1
    # deepeval's g-eval really judged the case (so deepeval was imported and had the chance to write files)
    [case] = json.loads((pytester.path / "run.json").read_text())["cases"]
    [verdict] = case["verdicts"]
    assert verdict["assertion"] == "g-eval"
    assert VERDICT.search(verdict["reason"]), verdict
    assert case["judge_tokens"] > 0
    assert "Running teardown with pytest sessionfinish" not in result.stdout.str()
    assert not Path(pytester.path, ".deepeval").exists()
