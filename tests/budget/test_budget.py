"""Token budgets as a user meets them: caps that hold under concurrency, priorities, PR scope, policy, crashes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fixtures.vllm_double import VLLMDouble, count_tokens, render_chat
from helm_eval.ledger import Ledger

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def suite(root: Path, text: str, name: str = "a.yaml") -> None:
    path = root / "suites" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")


def run(pytester: pytest.Pytester, double: VLLMDouble, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint", double.base_url,
        "--helm-eval-report", "run.json", "-rs", *args,
    )  # fmt: skip


def record(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / "run.json").read_text())


PRIORITY_SUITE = """
    prompts: ["{{q}}"]
    defaultTest: {options: {max_tokens: 20}}
    tests:
      - {id: low, vars: {q: "one two three"}, priority: 0}
      - {id: high, vars: {q: "four five six"}, priority: 10}
      - {id: mid, vars: {q: "seven eight nine"}, priority: 5}
"""


def test_cases_that_do_not_fit_are_skipped_by_priority_and_fail_the_check(
    pytester: pytest.Pytester, vllm_double: VLLMDouble
) -> None:
    suite(pytester.path, PRIORITY_SUITE)
    # each case reserves its exact prompt (the double's /tokenize) + max_tokens 20: two fit in 70, three do not
    result = run(pytester, vllm_double, "--helm-eval-budget-tokens", "70")
    result.assert_outcomes(passed=2, skipped=1)
    assert result.ret == 1  # on_exhausted defaults to fail
    result.stdout.fnmatch_lines(
        [
            "budget exhausted: 1 case(s) cut, reported as skipped; the check fails",
            "SKIPPED [[]1] suites/a.yaml:4: budget: tokens budget for this run exhausted: needs * tokens, "
            "* of 70 remaining (limit from command line)",
        ]
    )
    cases = {c["nodeid"].split("::")[1]: c for c in record(pytester)["cases"]}
    assert cases["low"]["status"] == "skipped"
    assert cases["high"]["status"] == cases["mid"]["status"] == "passed"
    sent = {r.body["messages"][0]["content"] for r in vllm_double.requests if r.path.endswith("/completions")}
    assert sent == {"four five six", "seven eight nine"}  # the cut case never reached the server


def test_warn_keeps_the_check_green(pytester: pytest.Pytester, vllm_double: VLLMDouble) -> None:
    suite(pytester.path, PRIORITY_SUITE)
    result = run(pytester, vllm_double, "--helm-eval-budget-tokens", "70", "--helm-eval-on-exhausted", "warn")
    result.assert_outcomes(passed=2, skipped=1)
    assert result.ret == 0
    budget = record(pytester)["budget"]
    assert budget["exhausted"] is True
    assert budget["action"] == "warn"
    assert budget["cut"] == 1


def test_with_a_budget_estimates_are_exact_with_tokenize_and_kept_next_to_actuals(
    pytester: pytest.Pytester, vllm_double: VLLMDouble
) -> None:
    suite(pytester.path, PRIORITY_SUITE)
    run(pytester, vllm_double, "--helm-eval-budget-tokens", "100000").assert_outcomes(passed=3)
    for case in record(pytester)["cases"]:
        assert case["estimated_prompt_tokens"] == case["prompt_tokens"] > 0


def answer_of_length(body: dict) -> str:
    """The double answers with as many words as the prompt asks for ('words N')."""
    n = int(body["messages"][-1]["content"].split()[-1])
    return " ".join(["word"] * n)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    prompts=st.lists(st.integers(min_value=1, max_value=40), min_size=20, max_size=80),
    answer_words=st.integers(min_value=1, max_value=60),
    max_tokens=st.integers(min_value=1, max_value=48),
    budget=st.integers(min_value=50, max_value=3000),
)
@example(prompts=[40] * 80, answer_words=60, max_tokens=48, budget=50)  # no case fits
@example(prompts=[1] * 20, answer_words=1, max_tokens=1, budget=3000)  # everything fits
def test_cap_never_exceeded_at_concurrency_64(
    pytester: pytest.Pytester, prompts: list[int], answer_words: int, max_tokens: int, budget: int
) -> None:
    """64 calls in flight, random prompt and answer sizes: the server's own total stays within the cap and
    equals the ledger's total; cases are cut exactly when the cap could not hold them all."""
    questions = [f"{' '.join(['x'] * size)} words {answer_words}" for size in prompts]
    tests = "\n".join(f"  - {{id: c{i}, vars: {{q: '{q}'}}}}" for i, q in enumerate(questions))
    suite(
        pytester.path,
        f"prompts: ['{{{{q}}}}']\ndefaultTest: {{options: {{max_tokens: {max_tokens}}}}}\ntests:\n{tests}\n",
    )
    # one pytester directory serves every Hypothesis example: nothing may carry over from one to the next, so each
    # example has its own ledger and report, and the response cache is off (a hit would cost nothing)
    stamp = time.monotonic_ns()
    ledger, report = pytester.path / f"ledger-{stamp}.sqlite", f"run-{stamp}.json"
    with VLLMDouble(capacity=64, latency=0.01, answer=answer_of_length) as double:
        result = pytester.runpytest_subprocess(
            "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint", double.base_url,
            "--helm-eval-concurrency", "64", "--helm-eval-budget-tokens", str(budget),
            "--helm-eval-on-exhausted", "warn", "--helm-eval-ledger", str(ledger), "--helm-eval-cache", "off",
            "--helm-eval-report", report,
        )  # fmt: skip
        served = double.totals.prompt_tokens + double.totals.completion_tokens
    assert result.ret == 0, result.stdout.str()
    assert served <= budget
    rows = Ledger(str(ledger)).calls()
    assert sum(r["tokens"] for r in rows) == served
    outcomes = result.parseoutcomes()
    skipped = outcomes.get("skipped", 0)
    assert outcomes.get("passed", 0) + skipped == len(prompts)
    assert len(rows) == len(prompts) - skipped  # a cut case is never sent

    # what each case costs when it runs, and what the budget holds for it before it runs (the double's tokenizer)
    prompt_tokens = [count_tokens(render_chat([{"role": "user", "content": q}])) for q in questions]
    spent_by_all = sum(p + min(answer_words, max_tokens) for p in prompt_tokens)
    reserved_by_all = sum(p + max_tokens for p in prompt_tokens)
    if spent_by_all > budget:
        assert skipped >= 1, "running every case would exceed the cap, so some must be cut"
    if reserved_by_all <= budget:
        assert skipped == 0, "every case fits under the cap, so none may be cut"
    run_budget = json.loads((pytester.path / report).read_text())["budget"]
    assert run_budget["cut"] == skipped
    assert run_budget["exhausted"] is (skipped > 0)


PR_SUITE = """
    prompts: ["{{q}}"]
    defaultTest: {options: {max_tokens: 10}}
    tests:
      - {id: a, vars: {q: "alpha beta"}}
      - {id: b, vars: {q: "gamma delta"}}
"""


def test_pull_request_budget_is_shared_by_every_run_of_the_pr(
    pytester: pytest.Pytester, vllm_double: VLLMDouble
) -> None:
    suite(pytester.path, PR_SUITE)
    labels = ("--helm-eval-label", "repo=acme/agents", "--helm-eval-label", "pr=42")
    # cache off: a rerun answered from the cache costs nothing, and this test is about spending
    budget = (
        "--helm-eval-budget-tokens",
        "60",
        "--helm-eval-on-exhausted",
        "warn",
        "--helm-eval-cache",
        "off",
        *labels,
    )
    first = run(pytester, vllm_double, *budget)
    first.assert_outcomes(passed=2)
    used_first = record(pytester)["budget"]["used_tokens"]
    second = run(pytester, vllm_double, *budget)  # a new push of the same PR: what is left is less than 2 cases
    second_outcomes = second.parseoutcomes()
    third = run(pytester, vllm_double, *budget)
    third.assert_outcomes(skipped=2)
    third.stdout.fnmatch_lines(["*tokens budget for pull request 42 exhausted*"])
    assert second_outcomes.get("skipped", 0) >= 1
    assert record(pytester)["budget"]["used_tokens"] <= 60
    assert used_first > 0
    other_pr = run(pytester, vllm_double, "--helm-eval-budget-tokens", "60", "--helm-eval-label", "repo=acme/agents",
                   "--helm-eval-label", "pr=43")  # fmt: skip
    other_pr.assert_outcomes(passed=2)


def test_pr_config_cannot_raise_the_policy(pytester: pytest.Pytester, vllm_double: VLLMDouble) -> None:
    suite(pytester.path, PR_SUITE)
    (pytester.path / "helm-eval.yaml").write_text("budget:\n  run: {tokens: 1000000}\n  on_exhausted: warn\n")
    (pytester.path / "policy.yaml").write_text("budget:\n  run: {tokens: 25}\n  on_exhausted: fail\n")
    result = run(pytester, vllm_double, "--helm-eval-policy", "policy.yaml")
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == 1  # the policy's on_exhausted binds too
    budget = record(pytester)["budget"]
    assert budget["limit_tokens"] == 25
    assert budget["source"] == "policy policy.yaml"


@pytest.mark.parametrize(("on_exhausted", "exit_code", "action"), [("warn", 1, "fail"), ("fail", 1, "fail")])
def test_pr_config_may_lower_the_policy(
    pytester: pytest.Pytester, vllm_double: VLLMDouble, on_exhausted: str, exit_code: int, action: str
) -> None:
    suite(pytester.path, PR_SUITE)
    (pytester.path / "helm-eval.yaml").write_text(f"budget:\n  run: {{tokens: 10}}\n  on_exhausted: {on_exhausted}\n")
    (pytester.path / "policy.yaml").write_text("budget:\n  run: {tokens: 1000}\n")
    result = run(pytester, vllm_double, "--helm-eval-policy", "policy.yaml")
    result.assert_outcomes(skipped=2)
    # under a trusted policy the project may make on_exhausted stricter, never turn a cut run green
    # (the project deciding for itself without a policy: tests/budget/test_escapes.py)
    assert result.ret == exit_code
    budget = record(pytester)["budget"]
    assert budget["source"] == "helm-eval.yaml"
    assert budget["limit_tokens"] == 10
    assert budget["action"] == action


def test_suite_and_case_caps(pytester: pytest.Pytester, vllm_double: VLLMDouble) -> None:
    suite(pytester.path, PR_SUITE)
    suite(pytester.path, "prompts: ['hi']\ntests: [{id: big, repeat: 5, options: {max_tokens: 50}}]\n", "b.yaml")
    (pytester.path / "helm-eval.yaml").write_text("budget:\n  case: {tokens: 100}\n  on_exhausted: warn\n")
    result = run(pytester, vllm_double)
    result.assert_outcomes(passed=2, skipped=1)
    result.stdout.fnmatch_lines(["*suites/b.yaml:2: budget: tokens budget for case suites/b.yaml::big exhausted*"])


def test_killed_run_leaves_a_consistent_ledger_that_charges_calls_in_flight(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    suite(pytester.path, PR_SUITE)
    ledger = tmp_path / "ledger.sqlite"
    with VLLMDouble(latency=30.0) as double:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint",
             double.base_url, "--helm-eval-ledger", str(ledger), "--helm-eval-budget-tokens", "1000"],
            cwd=pytester.path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while double.num_running < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert double.num_running == 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    store = Ledger(str(ledger))
    held = store.execute("SELECT tokens FROM helm_eval_reservations").fetchall()
    assert len(held) == 2  # the killed run's reservations survived, consistent
    assert store.reclaim_dead() == 2
    rows = store.calls()
    assert [r["status"] for r in rows] == ["unsettled", "unsettled"]
    assert sum(r["tokens"] for r in rows) == sum(t for (t,) in held)
    assert store.execute("SELECT COUNT(*) FROM helm_eval_reservations").fetchone()[0] == 0


def test_gpu_hour_cost_is_shared_by_token_share(pytester: pytest.Pytester, vllm_double: VLLMDouble) -> None:
    suite(pytester.path, PR_SUITE)
    (pytester.path / "helm-eval.yaml").write_text(
        f"endpoints:\n  gpu: {{url: '{vllm_double.base_url}', gpu_hourly_usd: 3600}}\n"
    )
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-report", "run.json", "--junitxml", "junit.xml"
    )
    result.assert_outcomes(passed=2)
    data = record(pytester)
    cases = data["cases"]
    total = data["totals"]["cost_usd"]
    assert total > 0
    for case in cases:  # $1 per second of wall time, split by tokens
        assert case["cost_usd"] == pytest.approx(
            total * case["total_tokens"] / data["totals"]["total_tokens"], rel=1e-3
        )
    junit = (pytester.path / "junit.xml").read_text()
    assert junit.count('name="cost_usd"') == 2


def test_token_prices_give_per_case_cost(pytester: pytest.Pytester, vllm_double: VLLMDouble) -> None:
    suite(pytester.path, PR_SUITE)
    (pytester.path / "helm-eval.yaml").write_text(
        "prices:\n  double-model: {input_usd_per_1m: 1000000, output_usd_per_1m: 2000000}\n"
    )
    run(pytester, vllm_double).assert_outcomes(passed=2)
    for case in record(pytester)["cases"]:
        assert case["cost_usd"] == pytest.approx(case["prompt_tokens"] * 1.0 + case["completion_tokens"] * 2.0)
