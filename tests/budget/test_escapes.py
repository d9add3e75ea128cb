"""A pull request controls its suites and its helm-eval.yaml: neither may raise a limit, move where spend is
recorded, or turn a cut run green, once a trusted policy (or a command-line budget) is in force."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.vllm_double import VLLMDouble
from helm_eval.ledger import Ledger
from tests.budget.test_budget import record, run, suite

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

THREE = """
    prompts: ["{{q}}"]
    defaultTest: {options: {max_tokens: 20}}
    tests:
      - {id: one, vars: {q: "one two three"}}
      - {id: two, vars: {q: "four five six"}}
      - {id: three, vars: {q: "seven eight nine"}}
"""

PR = ("--helm-eval-label", "repo=o/r", "--helm-eval-label", "pr=5")


def policy(root: Path, text: str) -> None:
    (root / "policy.yaml").write_text(text, encoding="utf-8")


def statuses(pytester: pytest.Pytester) -> list[str]:
    return [c["status"] for c in record(pytester)["cases"]]


def test_ledger_off_in_the_pr_config_does_not_reset_the_pull_request_count(
    pytester: pytest.Pytester, vllm_double: VLLMDouble
) -> None:
    suite(pytester.path, THREE)
    (pytester.path / "helm-eval.yaml").write_text("ledger: 'off'\n")
    policy(pytester.path, "budget:\n  pull_request: {tokens: 100}\n")
    first = run(pytester, vllm_double, "--helm-eval-policy", "policy.yaml", "--helm-eval-cache", "off", *PR)
    first.assert_outcomes(passed=3)
    first.stdout.fnmatch_lines(["*the project config's ledger ('off') ignored*"])
    second = run(pytester, vllm_double, "--helm-eval-policy", "policy.yaml", "--helm-eval-cache", "off", *PR)
    assert statuses(pytester).count("skipped") >= 1
    assert second.ret == 1
    assert (pytester.path / ".helm-eval" / "ledger.sqlite").is_file()  # the default place, not "off"


def test_another_ledger_path_in_the_pr_config_is_ignored_under_a_policy(
    pytester: pytest.Pytester, vllm_double: VLLMDouble
) -> None:
    suite(pytester.path, THREE)
    (pytester.path / "helm-eval.yaml").write_text("ledger: elsewhere.sqlite\n")
    policy(pytester.path, "ledger: trusted.sqlite\nbudget:\n  pull_request: {tokens: 1000}\n")
    run(pytester, vllm_double, "--helm-eval-policy", "policy.yaml", *PR).assert_outcomes(passed=3)
    assert not (pytester.path / "elsewhere.sqlite").exists()
    ledger = Ledger(str(pytester.path / "trusted.sqlite"), read_only=True)
    assert len(ledger.calls()) == 3
    ledger.close()


def test_warn_in_the_pr_config_cannot_turn_a_cut_run_green(pytester: pytest.Pytester, vllm_double: VLLMDouble) -> None:
    suite(pytester.path, THREE)
    (pytester.path / "helm-eval.yaml").write_text("budget: {on_exhausted: warn}\n")
    policy(pytester.path, "budget:\n  run: {tokens: 40}\n")
    result = run(pytester, vllm_double, "--helm-eval-policy", "policy.yaml")
    assert "skipped" in statuses(pytester)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*budget.on_exhausted: warn ignored*"])
    # without a trusted source the project decides for itself
    (pytester.path / "run.json").unlink()
    (pytester.path / "helm-eval.yaml").write_text("budget: {on_exhausted: warn, run: {tokens: 40}}\n")
    assert run(pytester, vllm_double).ret == 0


def test_prices_of_zero_in_the_pr_config_do_not_beat_a_usd_cap(
    pytester: pytest.Pytester, vllm_double: VLLMDouble
) -> None:
    suite(pytester.path, THREE)
    (pytester.path / "helm-eval.yaml").write_text(
        "prices:\n  double-model: {input_usd_per_1m: 0, output_usd_per_1m: 0}\n"
    )
    # each call reserves ~30 tokens at $1 per token: a $70 cap admits two of the three cases
    policy(
        pytester.path,
        "prices:\n  double-model: {input_usd_per_1m: 1000000, output_usd_per_1m: 1000000}\nbudget:\n  run: {usd: 70}\n",
    )
    result = run(pytester, vllm_double, "--helm-eval-policy", "policy.yaml", "--helm-eval-model", "double-model")
    assert statuses(pytester).count("skipped") >= 1
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*usd budget for this run exhausted*"])


def test_a_usd_cap_without_a_trusted_price_is_a_clear_error(pytester: pytest.Pytester, vllm_double: VLLMDouble) -> None:
    suite(pytester.path, THREE)
    (pytester.path / "helm-eval.yaml").write_text(
        "prices:\n  double-model: {input_usd_per_1m: 1, output_usd_per_1m: 1}\n"
    )
    policy(pytester.path, "budget:\n  run: {usd: 5}\n")
    result = run(pytester, vllm_double, "--helm-eval-policy", "policy.yaml", "--helm-eval-model", "double-model")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "USD budget (from policy policy.yaml) cannot price model 'double-model'" in result.stdout.str()
    assert not [r for r in vllm_double.requests if r.path.endswith("/completions")]


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ("{max_tokens: 4000}", "extra_body.max_tokens: set max_tokens under options"),
        ("{max_completion_tokens: 4000}", "extra_body.max_completion_tokens"),
        ("{n: 8}", "extra_body.n: helm-eval sends one completion per call; use repeat: N"),
    ],
)
def test_extra_body_cannot_outspend_the_reservation(
    pytester: pytest.Pytester, vllm_double: VLLMDouble, extra: str, says: str
) -> None:
    suite(pytester.path, f"""
        prompts: ["{{{{q}}}}"]
        tests:
          - id: greedy
            vars: {{q: "hi"}}
            options: {{max_tokens: 8, extra_body: {extra}}}
    """)  # fmt: skip
    result = run(pytester, vllm_double, "--helm-eval-budget-tokens", "1000")
    assert result.ret == pytest.ExitCode.INTERRUPTED  # a collection error
    result.stdout.fnmatch_lines([f"*suites/a.yaml:5: *{says}*"])
    assert not [r for r in vllm_double.requests if r.path.endswith("/completions")]


def test_the_request_sent_is_the_request_reserved_for(pytester: pytest.Pytester, vllm_double: VLLMDouble) -> None:
    suite(pytester.path, """
        prompts: ["{{q}}"]
        tests:
          - {id: a, vars: {q: "hi"}, options: {max_tokens: 8, extra_body: {top_k: 5, ignore_eos: true}}}
    """)  # fmt: skip
    run(pytester, vllm_double, "--helm-eval-budget-tokens", "1000").assert_outcomes(passed=1)
    (body,) = [r.body for r in vllm_double.requests if r.path.endswith("/completions")]
    assert body["max_tokens"] == 8
    assert body["top_k"] == 5
    assert body["ignore_eos"] is True
    assert "n" not in body


def test_xdist_workers_share_one_budget_even_with_the_ledger_off(
    pytester: pytest.Pytester, vllm_double: VLLMDouble
) -> None:
    suite(pytester.path, """
        prompts: ["{{q}}"]
        defaultTest: {options: {max_tokens: 8}}
        tests:
""" + "".join(f'          - {{id: c{i}, vars: {{q: "question {i}"}}}}\n' for i in range(8)))  # fmt: skip
    result = run(pytester, vllm_double, "-n", "2", "--helm-eval-ledger", "off", "--helm-eval-budget-tokens", "40")
    sent = [r for r in vllm_double.requests if r.path.endswith("/completions")]
    rec = record(pytester)
    used = sum(c["total_tokens"] for c in rec["cases"])
    assert used <= 40
    assert 1 <= len(sent) < 8
    assert rec["budget"]["used_tokens"] == used
    assert result.ret == 1
