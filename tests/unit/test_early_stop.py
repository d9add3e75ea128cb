"""Repeats that stop early (``repeat: {max, confidence, decide}``): the stopping rule, and runs against the double.

The rule's figures are pinned against the Wilson bounds they come from; the runs count the requests the double
received, what the ledger charged, and what the run record, the terminal and JUnit say.
"""

from __future__ import annotations

import sqlite3
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fixtures.vllm_double import VLLMDouble, count_tokens, render_chat
from helm_eval._records import Case
from helm_eval._stats import Z_95, wilson_interval, z_for
from helm_eval.collect import load_suite
from helm_eval.config import SuiteError
from helm_eval.ledger import Ledger
from helm_eval.pipeline._stopping import (
    case_decision,
    first_round,
    interval_decision,
    round_size,
    runs_to_decide,
)

# -- the stopping rule ------------------------------------------------------------------------------------


def rounds_until_decided(outcomes: list[bool], most: int, pass_rate: float, confidence: float) -> list[int]:
    """The round sizes an early stop sends when the runs come out as ``outcomes`` (in order)."""
    sizes: list[int] = []
    runs = passes = 0
    while runs < most and interval_decision(passes, runs, pass_rate, confidence) is None:
        size = round_size(passes, runs, most, pass_rate, confidence)
        sizes.append(size)
        passes += sum(outcomes[runs : runs + size])
        runs += size
    return sizes


def test_all_passes_at_pass_rate_one_half_stop_after_four_of_twenty() -> None:
    # Wilson 95% lower bound of k of k passes is k / (k + z^2): 3/6.84 = 0.4385 < 0.5 <= 4/7.84 = 0.5101
    assert wilson_interval(3, 3)[0] == pytest.approx(3 / (3 + Z_95**2))
    assert wilson_interval(3, 3)[0] < 0.5 <= wilson_interval(4, 4)[0]
    assert wilson_interval(4, 4)[0] == pytest.approx(0.5101, abs=1e-4)
    assert interval_decision(3, 3, 0.5, 0.95) is None
    assert interval_decision(4, 4, 0.5, 0.95) is True
    # the first round is exactly the fewest runs that could decide: four, either way (4 fails: upper 0.4899)
    assert wilson_interval(0, 4)[1] == pytest.approx(0.4899, abs=1e-4)
    assert round_size(0, 0, 20, 0.5, 0.95) == 4
    assert rounds_until_decided([True] * 20, 20, 0.5, 0.95) == [4]
    assert rounds_until_decided([False] * 20, 20, 0.5, 0.95) == [4]


def test_a_higher_confidence_needs_more_runs() -> None:
    assert z_for(0.95) == Z_95
    assert z_for(0.99) == pytest.approx(2.5758, abs=1e-4)
    # at 99%: k/(k + 2.5758^2) >= 0.5 first at k = 7 (6/12.63 = 0.475, 7/13.63 = 0.514)
    assert rounds_until_decided([True] * 20, 20, 0.5, 0.99) == [7]


def test_pass_rate_one_stops_at_the_first_failure_and_never_early_on_passes() -> None:
    assert interval_decision(0, 1, 1.0, 0.95) is False  # one failed run: the upper bound is 0.79 < 1
    assert interval_decision(9, 10, 1.0, 0.95) is False
    assert all(interval_decision(k, k, 1.0, 0.95) is None for k in range(1, 1001))
    # passing runs go out doubling, so twenty runs take six rounds, not twenty
    assert rounds_until_decided([True] * 20, 20, 1.0, 0.95) == [1, 1, 2, 4, 8, 4]
    # a failure in the fifth run is seen at the end of the round of four that holds it
    assert rounds_until_decided([True] * 4 + [False] + [True] * 15, 20, 1.0, 0.95) == [1, 1, 2, 4]


def test_pass_rate_zero_decides_after_one_run() -> None:
    assert interval_decision(0, 0, 0.0, 0.95) is None  # never on no runs
    assert round_size(0, 0, 20, 0.0, 0.95) == 1
    assert interval_decision(0, 1, 0.0, 0.95) is True


def test_no_decision_possible_sends_every_run_at_once() -> None:
    # 3 runs can never put the 95% interval wholly above or below 0.5 (3/6.84 = 0.44; upper of 0 of 3 = 0.56)
    assert runs_to_decide(0, 0, 3, 0.5, 0.95, passing=True) == 0
    assert runs_to_decide(0, 0, 3, 0.5, 0.95, passing=False) == 0
    assert round_size(0, 0, 3, 0.5, 0.95) == 3


@settings(max_examples=300, deadline=None)
@given(
    outcomes=st.lists(st.booleans(), min_size=1, max_size=60),
    pass_rate=st.sampled_from([0.0, 0.3, 0.5, 0.8, 0.9, 0.95, 1.0]),
    confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]),
)
def test_rounds_stop_exactly_when_decided_and_never_pass_max(
    outcomes: list[bool], pass_rate: float, confidence: float
) -> None:
    most = len(outcomes)
    sizes = rounds_until_decided(outcomes, most, pass_rate, confidence)
    made = sum(sizes)
    assert all(size >= 1 for size in sizes)
    assert made <= most
    passes = sum(outcomes[:made])
    decided = interval_decision(passes, made, pass_rate, confidence)
    assert decided is not None or made == most
    # no round ended decided except the last
    total = taken = 0
    for size in sizes[:-1]:
        total += size
        taken = sum(outcomes[:total])
        assert interval_decision(taken, total, pass_rate, confidence) is None
    # the first round is never larger than it needs to be for a decision, unless none is possible before max
    first = sizes[0]
    if first < most:
        assert any(interval_decision(k, first, pass_rate, confidence) is not None for k in (0, first)), (
            "the first round can decide"
        )
        assert all(interval_decision(k, n, pass_rate, confidence) is None for n in range(1, first) for k in (0, n)), (
            "no smaller first round could decide"
        )


def case(**fields: Any) -> Case:
    return Case("c", "s.yaml", 1, ({"role": "user", "content": "x"},), {}, (), **fields)


def test_decide_rate_and_interval() -> None:
    rate = case(repeat=20, threshold=0.5, stop_early=True)
    interval = case(repeat=20, threshold=0.5, stop_early=True, decide="interval")
    assert case_decision(rate, 10, 20) is True  # the share reaches 0.5
    assert case_decision(rate, 9, 20) is False
    assert case_decision(interval, 10, 20) is None  # 95% CI 30%-70% holds 0.5: inconclusive
    assert case_decision(interval, 19, 20) is True
    assert case_decision(interval, 2, 20) is False
    assert first_round(case(repeat=5)) == 5  # no early stop: every run at once
    assert first_round(rate) == 4


# -- the suite key -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("repeat", "message"),
    [
        ("\n      n: 5\n      max: 10", "s.yaml:6: tests[0].repeat.max: give n (every run is made) or max"),
        ("{pass_rate: 0.5}", "s.yaml:4: tests[0].repeat: give n (runs, all made) or max"),
        ("{n: 5, confidence: 0.9}", "s.yaml:4: tests[0].repeat: confidence sets the interval"),
        ("{max: 9, decide: interval}", "s.yaml:4: tests[0].repeat: decide: interval with pass_rate 1.0 can never"),
        ("{max: 9, confidence: 1.0}", "s.yaml:4: tests[0].repeat.confidence: input should be less than 1"),
    ],
)
def test_repeat_mistakes_name_the_line_and_field(tmp_path: Path, repeat: str, message: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f'prompts: ["hi"]\ntests:\n  - id: a\n    repeat: {repeat}\n', encoding="utf-8")
    with pytest.raises(SuiteError) as raised:
        load_suite(path, "s.yaml")
    assert str(raised.value).startswith(message)


def test_the_suite_key_becomes_the_case_policy(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        'prompts: ["hi"]\ntests:\n'
        "  - {id: a, repeat: {max: 30, pass_rate: 0.8, confidence: 0.9, decide: interval}}\n"
        "  - {id: b, repeat: {n: 5, pass_rate: 0.6}}\n"
        "  - {id: c, repeat: 3}\n",
        encoding="utf-8",
    )
    a, b, c = load_suite(path, "s.yaml")
    assert (a.repeat, a.threshold, a.stop_early, a.confidence, a.decide) == (30, 0.8, True, 0.9, "interval")
    assert (b.repeat, b.threshold, b.stop_early, b.decide) == (5, 0.6, False, "rate")
    assert (c.repeat, c.threshold, c.stop_early) == (3, 1.0, False)


# -- against the double --------------------------------------------------------------------------------------


def seeds_sent(project: Any) -> list[int]:
    return sorted(r.body["seed"] for r in project.chat_requests())


def yes_on_even_seeds(body: Mapping[str, Any]) -> str:
    return "yes" if body.get("seed", 0) % 2 == 0 else "no"


def junit_properties(path: Path) -> dict[str, dict[str, str]]:
    cases = {}
    for testcase in ET.parse(path).getroot().iter("testcase"):
        cases[testcase.get("name", "")] = {p.get("name", ""): p.get("value", "") for p in testcase.iter("property")}
    return cases


def test_a_passing_case_stops_after_four_of_twenty_runs(project: Any) -> None:
    project.double.set(answer=lambda body: "yes")
    project.suite(
        "s.yaml",
        """
        prompts: ["{{q}}"]
        tests:
          - id: sampled
            vars: {q: say yes}
            options: {temperature: 0.7, seed: 100, max_tokens: 8}
            repeat: {max: 20, pass_rate: 0.5}
            assert: [{type: equals, value: "yes"}]
        """,
    )
    result = project.run("--helm-eval-report", "run.json", "--junitxml", "junit.xml", "--helm-eval-html", "r.html")
    result.assert_outcomes(passed=1)
    assert seeds_sent(project) == [100, 101, 102, 103]  # runs 1-4 of 20: seed + i, as with n
    (entry,) = project.record()["cases"]
    assert (entry["status"], entry["passes"], entry["repeats"], entry["max_repeats"]) == ("passed", 4, 4, 20)
    assert entry["pass_rate_ci"] == pytest.approx(list(wilson_interval(4, 4)))
    assert entry["repeat_tokens_saved"] == entry["total_tokens"] // 4 * 16 > 0
    saved = entry["repeat_tokens_saved"]
    result.stdout.fnmatch_lines(
        [f"early stopping: 1 of 1 sampled cases stopped early, 4 of 20 runs made; ~{saved:,} tokens saved *"]
    )
    assert '"max_repeats":20' in (project.path / "r.html").read_text(encoding="utf-8").replace(" ", "")
    properties = junit_properties(project.path / "junit.xml")["sampled"]
    assert properties["early_stop"] == "stopped after 4 of 20 runs"
    assert (properties["runs"], properties["max_runs"], properties["runs_tokens_saved"]) == ("4", "20", str(saved))


def test_one_failure_decides_under_the_default_pass_rate(project: Any) -> None:
    project.suite(
        "s.yaml",
        """
        prompts: ["{{q}}"]
        tests:
          - id: strict
            vars: {q: say no}
            options: {temperature: 0.7, seed: 1, max_tokens: 8}
            repeat: {max: 20}
            assert: [{type: contains, value: "yes"}]
        """,
    )
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(failed=1)
    assert len(project.chat_requests()) == 1
    result.stdout.fnmatch_lines(["suites/s.yaml:3: strict: failed; stopped after 1 of 20 runs"])
    (entry,) = project.record()["cases"]
    assert (entry["status"], entry["repeats"], entry["max_repeats"]) == ("failed", 1, 20)


def test_undecided_at_max_is_inconclusive_by_interval_and_decided_by_rate(project: Any) -> None:
    project.double.set(answer=yes_on_even_seeds)
    project.suite(
        "s.yaml",
        """
        prompts: ["{{q}}"]
        defaultTest:
          options: {temperature: 0.7, seed: 0, max_tokens: 8}
          assert: [{type: equals, value: "yes"}]
        tests:
          - id: by-interval
            vars: {q: one}
            repeat: {max: 6, pass_rate: 0.5, decide: interval}
          - id: by-rate
            vars: {q: two}
            repeat: {max: 6, pass_rate: 0.5}
        """,
    )
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(passed=1, errors=1)
    assert len(project.chat_requests()) == 12  # half the runs pass: nothing decides before max
    low, high = wilson_interval(3, 6)
    result.stdout.fnmatch_lines(
        [
            f"*suites/s.yaml:6: by-interval: inconclusive: 3 of 6 runs passed (50%); the 95% interval "
            f"{low:.0%}–{high:.0%} holds the required pass rate 0.5 (all 6 runs made)*"
        ]
    )
    cases = {c["nodeid"].split("::")[1]: c for c in project.record()["cases"]}
    assert (cases["by-interval"]["status"], cases["by-interval"]["repeats"]) == ("error", 6)
    assert cases["by-interval"]["error"].startswith("inconclusive: 3 of 6 runs passed")
    assert (cases["by-rate"]["status"], cases["by-rate"]["passes"], cases["by-rate"]["repeats"]) == ("passed", 3, 6)
    assert cases["by-rate"]["repeat_tokens_saved"] == 0


def test_the_response_cache_answers_the_runs_again(project: Any) -> None:
    project.double.set(answer=lambda body: "yes")
    project.suite(
        "s.yaml",
        """
        prompts: ["{{q}}"]
        tests:
          - id: unseeded
            vars: {q: say yes}
            options: {temperature: 0.7, max_tokens: 8}
            repeat: {max: 20, pass_rate: 0.5}
            assert: [{type: equals, value: "yes"}]
        """,
    )
    project.run("--helm-eval-report", "first.json").assert_outcomes(passed=1)
    assert len(project.chat_requests()) == 4  # no seed: the repeat index keeps the four runs apart in the cache
    project.run("--helm-eval-report", "second.json").assert_outcomes(passed=1)
    assert len(project.chat_requests()) == 4
    (entry,) = project.record("second.json")["cases"]
    assert (entry["repeats"], entry["cache_hits"]) == (4, 4)


BUDGET_SUITE = """
    prompts: ["{{q}}"]
    tests:
      - id: sampled
        vars: {q: say yes}
        options: {temperature: 0.7, seed: 0, max_tokens: 8}
        repeat: {max: 20, pass_rate: 0.9}
        assert: [{type: equals, value: "yes"}]
"""


def ledger_state(path: Path) -> tuple[list[dict[str, Any]], int]:
    with sqlite3.connect(path) as db:
        reserved = db.execute("SELECT COUNT(*) FROM helm_eval_reservations").fetchone()[0]
    return Ledger(str(path)).calls(), int(reserved)


def test_only_runs_sent_are_reserved_and_charged(project: Any) -> None:
    project.double.set(answer=lambda body: "yes")
    project.suite("s.yaml", BUDGET_SUITE)
    ledger = project.path / "ledger.sqlite"
    args = ("--helm-eval-report", "run.json", "--helm-eval-ledger", str(ledger), "--helm-eval-cache", "off")
    project.run(*args, "--helm-eval-budget-tokens", "100000").assert_outcomes(passed=1)
    rows, reserved = ledger_state(ledger)
    sent = project.chat_requests()
    # pass_rate 0.9 at 95%: k/(k + z^2) >= 0.9 first at k = 35 > 20, so all twenty runs are made, in rounds
    assert len(sent) == len(rows) == 20
    assert reserved == 0
    served = project.double.totals
    assert sum(r["tokens"] for r in rows) == served.prompt_tokens + served.completion_tokens
    assert project.record()["budget"]["used_tokens"] == served.prompt_tokens + served.completion_tokens


def test_a_budget_that_refuses_a_later_round_skips_the_case_and_charges_only_what_was_sent(project: Any) -> None:
    project.double.set(answer=lambda body: "yes")
    project.suite("s.yaml", BUDGET_SUITE)
    # every run reserves its exact prompt (the double's /tokenize) + max_tokens 8; all pass, so the rounds are
    # 1, 2, 3, ...: the budget holds the first two rounds (three runs) and not the third
    assert rounds_until_decided([True] * 20, 20, 0.9, 0.95)[:3] == [1, 2, 3]
    prompt = count_tokens(render_chat([{"role": "user", "content": "say yes"}]))
    reserve = prompt + 8
    spent = prompt + count_tokens("yes")
    budget = 3 * spent + 2 * reserve  # after three runs: room for two reservations, not three
    ledger = project.path / "ledger.sqlite"
    result = project.run("--helm-eval-report", "run.json", "--helm-eval-ledger", str(ledger), "--helm-eval-cache",
                         "off", "--helm-eval-budget-tokens", str(budget), "-rs")  # fmt: skip
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED * budget: tokens budget for this run exhausted: needs *"])
    rows, reserved = ledger_state(ledger)
    assert len(project.chat_requests()) == len(rows) == 3
    assert reserved == 0
    served = project.double.totals
    assert sum(r["tokens"] for r in rows) == served.prompt_tokens + served.completion_tokens == 3 * spent
    (entry,) = project.record()["cases"]
    assert (entry["status"], entry["repeats"], entry["total_tokens"]) == ("skipped", 3, 3 * spent)
    assert entry["skip_reason"].startswith("budget: ")


def test_a_plain_repeat_still_sends_every_run_at_once(project: Any, vllm_double: VLLMDouble) -> None:
    vllm_double.set(answer=lambda body: "yes", latency=0.2)
    project.suite(
        "s.yaml",
        """
        prompts: ["{{q}}"]
        tests:
          - {id: fixed, vars: {q: a}, options: {temperature: 0.7, seed: 0}, repeat: {n: 6, pass_rate: 0.5},
             assert: [{type: equals, value: "yes"}]}
        """,
    )
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(passed=1)
    assert len(project.chat_requests()) == 6
    (entry,) = project.record()["cases"]
    assert (entry["repeats"], entry["max_repeats"], entry["repeat_tokens_saved"]) == (6, 0, 0)
    assert "early stopping" not in result.stdout.str()


VERDICT = '{"reason": "it names Paris", "pass": true, "score": 1.0}'


@pytest.mark.vllm_double(rules=[(r"capital of France\?$", "Paris."), (r"<Rubric>", VERDICT)])
def test_each_round_is_judged_and_the_judge_tokens_count_in_the_saving(project: Any) -> None:
    project.suite(
        "s.yaml",
        """
        prompts: ["What is the capital of France?"]
        tests:
          - id: judged
            options: {temperature: 0.7, seed: 0, max_tokens: 8}
            repeat: {max: 20, pass_rate: 0.5}
            assert: [{type: llm-rubric, value: names Paris}]
        """,
    )
    project.run("--helm-eval-report", "run.json", "--helm-eval-cache", "off").assert_outcomes(passed=1)
    judged = [r for r in project.chat_requests() if "<Rubric>" in r.body["messages"][-1]["content"]]
    assert len(judged) == 4
    assert len(project.chat_requests()) == 8
    (entry,) = project.record()["cases"]
    assert (entry["repeats"], entry["passes"], entry["max_repeats"]) == (4, 4, 20)
    assert entry["judge_tokens"] > 0
    assert entry["repeat_tokens_saved"] == round((entry["total_tokens"] + entry["judge_tokens"]) / 4 * 16)


def test_a_round_of_conversations_ends_before_it_is_judged(project: Any) -> None:
    project.double.set(answer=lambda body: "yes" if len(body["messages"]) > 1 else "maybe")
    project.suite(
        "s.yaml",
        """
        prompts: ["Will it work?"]
        tests:
          - id: talk
            options: {temperature: 0.7, seed: 0, max_tokens: 8}
            turns: ["Are you sure?"]
            repeat: {max: 10, pass_rate: 0.5}
            assert: [{type: equals, value: "yes"}]
        """,
    )
    project.run("--helm-eval-report", "run.json").assert_outcomes(passed=1)
    assert len(project.chat_requests()) == 8  # four runs of two turns
    (entry,) = project.record()["cases"]
    assert (entry["repeats"], entry["passes"], entry["calls"]) == (4, 4, 8)
    assert [m["turn"] for m in entry["transcript"]] == [1, 1, 2, 2]


def test_stopping_at_the_first_failure_with_x_leaves_nothing_running(project: Any) -> None:
    project.double.set(answer=lambda body: "no" if "first" in body["messages"][-1]["content"] else "yes", latency=0.2)
    project.suite(
        "s.yaml",
        """
        prompts: ["{{q}}"]
        defaultTest:
          options: {temperature: 0.7, seed: 0, max_tokens: 8}
          repeat: {max: 50, pass_rate: 0.95}
          assert: [{type: equals, value: "yes"}]
        tests:
          - {id: first, vars: {q: first}}
          - {id: second, vars: {q: second}}
          - {id: third, vars: {q: third}}
        """,
    )
    result = project.run("-x", "--helm-eval-report", "run.json")
    result.assert_outcomes(failed=1)
    (entry,) = project.record()["cases"]
    assert (entry["status"], entry["repeats"]) == ("failed", 1)
    sent = len(project.chat_requests())
    assert sent < 3 * 50  # the other cases' later rounds stop with the run
    time.sleep(1.0)
    assert len(project.chat_requests()) == sent, "a round was sent after the run ended"
