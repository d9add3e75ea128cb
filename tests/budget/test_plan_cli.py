"""``helm-eval plan``: the dry run predicts what a real run spends and cuts, without generating."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from fixtures.vllm_double import VLLMDouble
from tests.budget.test_budget import PRIORITY_SUITE

SUITE = PRIORITY_SUITE  # the same cases the budget tests cut, so plan and run can be compared


def project(tmp_path: Path) -> Path:
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "a.yaml").write_text(textwrap.dedent(SUITE).lstrip())
    return tmp_path


def helm_eval(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "helm_eval.cli", *args], cwd=cwd, capture_output=True, text=True)


def test_plan_predicts_the_cut_of_a_real_run_and_generates_nothing(tmp_path: Path, vllm_double: VLLMDouble) -> None:
    root = project(tmp_path)
    plan = helm_eval(root, "plan", "--endpoint", vllm_double.base_url, "--budget-tokens", "70", "--format", "json")
    assert plan.returncode == 1, plan.stderr
    predicted = json.loads(plan.stdout)
    assert predicted["estimates"] == ["tokenize"]
    assert [c["case"] for c in predicted["cut"]] == ["suites/a.yaml::low"]
    assert not [r for r in vllm_double.requests if r.path.endswith("/completions")]
    real = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint",
         vllm_double.base_url, "--helm-eval-budget-tokens", "70", "--helm-eval-report", "run.json"],
        cwd=root, capture_output=True, text=True,
    )  # fmt: skip
    assert real.returncode == 1
    skipped = [c["nodeid"] for c in json.loads((root / "run.json").read_text())["cases"] if c["status"] == "skipped"]
    assert skipped == ["suites/a.yaml::low"]
    everything = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint",
         vllm_double.base_url, "--helm-eval-report", "all.json", "--helm-eval-cache", "off"],
        cwd=root, capture_output=True, text=True,
    )  # fmt: skip
    assert everything.returncode == 0
    actual = json.loads((root / "all.json").read_text())["totals"]["prompt_tokens"]
    assert predicted["suites"][0]["prompt_tokens"] == actual  # exact: the same /tokenize the server counts with
    assert predicted["suites"][0]["calls"] == 3


def test_plan_offline_table(tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "helm-eval.yaml").write_text(
        "prices:\n  m: {input_usd_per_1m: 1000000, output_usd_per_1m: 1000000}\nbudget:\n  run: {tokens: 100000}\n"
    )
    result = helm_eval(root, "plan", "--offline", "--model", "m")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "suite",
        "model",
        "cases",
        "calls",
        "prompt",
        "tokens",
        "max",
        "completion",
        "est.",
        "cost",
        "admitted",
    ]
    assert lines[1].split()[:4] == ["suites/a.yaml", "m", "3", "3"]
    assert "estimated with: tiktoken (only tokenize is exact)" in lines
    assert "budget: run 100,000 tokens (from helm-eval.yaml)" in lines
    assert "fits the budget" in lines


SECOND_SUITE = """
    prompts: ["{{q}}"]
    defaultTest: {options: {max_tokens: 30}}
    tests:
      - {id: alpha, vars: {q: "a much longer question with many more words in it"}, priority: 7}
      - {id: beta, vars: {q: "short"}, priority: 1}
      - {id: gamma, vars: {q: "another question of middling size"}, priority: 3}
"""


def test_plan_figures_per_suite_equal_what_a_real_run_admits(tmp_path: Path, vllm_double: VLLMDouble) -> None:
    root = project(tmp_path)
    (root / "suites" / "b.yaml").write_text(textwrap.dedent(SECOND_SUITE).lstrip())
    (root / "policy.yaml").write_text("budget:\n  run: {tokens: 150}\n")
    common = ["--cache", "off", "--policy", "policy.yaml"]
    plan = helm_eval(root, "plan", "--endpoint", vllm_double.base_url, *common, "--format", "json")
    predicted = {s["suite"]: s for s in json.loads(plan.stdout)["suites"]}
    assert set(predicted) == {"suites/a.yaml", "suites/b.yaml"}
    assert sum(s["cut"] for s in predicted.values()) > 0, "the budget must bind for this test to mean anything"
    assert sum(s["admitted"] for s in predicted.values()) > 0
    real = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint",
         vllm_double.base_url, "--helm-eval-cache", "off", "--helm-eval-policy", "policy.yaml",
         "--helm-eval-report", "run.json"],
        cwd=root, capture_output=True, text=True,
    )  # fmt: skip
    assert real.returncode == 1, real.stdout
    cases = json.loads((root / "run.json").read_text())["cases"]
    for suite, figures in predicted.items():
        mine = [c for c in cases if c["file"] == suite]
        assert figures["admitted"] == sum(1 for c in mine if c["status"] != "skipped"), suite
        assert figures["cut"] == sum(1 for c in mine if c["status"] == "skipped"), suite
        sent = [c for c in mine if c["status"] != "skipped"]
        assert figures["reserved_tokens"] >= sum(c["total_tokens"] for c in sent), suite
        # /tokenize is exact: what was reserved is the prompts the server counted plus each call's max_tokens
        max_tokens = {"suites/a.yaml": 20, "suites/b.yaml": 30}[suite]
        assert figures["reserved_tokens"] == sum(c["prompt_tokens"] + max_tokens for c in sent), suite


CONVERSATION = """
    prompts: ["{{q}}"]
    defaultTest: {options: {max_tokens: 12}}
    tests:
      - id: chat
        vars: {q: "hello there"}
        turns: ["and then?", "one more thing please"]
      - {id: single, vars: {q: "just one"}}
"""


def test_plan_counts_every_turn_of_a_conversation(tmp_path: Path, vllm_double: VLLMDouble) -> None:
    root = tmp_path
    (root / "suites").mkdir()
    (root / "suites" / "c.yaml").write_text(textwrap.dedent(CONVERSATION).lstrip())
    plan = helm_eval(root, "plan", "--endpoint", vllm_double.base_url, "--cache", "off", "--format", "json")
    assert plan.returncode == 0, plan.stderr
    (figures,) = json.loads(plan.stdout)["suites"]
    real = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--helm-eval", "--helm-eval-endpoint",
         vllm_double.base_url, "--helm-eval-cache", "off", "--helm-eval-report", "run.json"],
        cwd=root, capture_output=True, text=True,
    )  # fmt: skip
    cases = json.loads((root / "run.json").read_text())["cases"]
    assert all(c["status"] != "error" for c in cases), real.stdout
    assert figures["calls"] == sum(c["calls"] for c in cases) == 4  # three turns plus one single-turn case
    assert figures["max_completion_tokens"] == 4 * 12
    # each later turn's history holds the earlier answers, counted at their max_tokens bound before the run
    assert figures["prompt_tokens"] >= sum(c["prompt_tokens"] for c in cases)
    assert figures["reserved_tokens"] >= sum(c["total_tokens"] for c in cases)
