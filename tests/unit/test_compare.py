"""Base versus head comparison: exact tests pinned against known values, per-case changes, groups, rendering."""

from __future__ import annotations

import json

import pytest

from helm_eval._records import CaseResult, RunRecord
from helm_eval._stats import fisher_exact, mcnemar_exact
from helm_eval.report import compare, comparison_headline, render_markdown, render_text


@pytest.mark.parametrize(
    ("b", "c", "expected"),
    [
        # textbook values, and scipy.stats.binomtest(min(b, c), b + c, 0.5).pvalue for the rest
        (1, 6, 0.125),
        (6, 1, 0.125),
        (0, 5, 0.0625),
        (2, 8, 0.109375),
        (3, 10, 0.09228515625),
        (10, 25, 0.016673847800120715),
        (4, 0, 0.125),
        (5, 5, 1.0),
        (0, 1, 1.0),
        (0, 0, 1.0),
    ],
)
def test_mcnemar_exact_p_values(b: int, c: int, expected: float) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_exact_matches_a_binomial_sum_for_large_counts() -> None:
    # 60 vs 90 discordant pairs: 2 * P(X <= 60), X ~ Bin(150, 1/2), summed independently with floats
    n, k = 150, 60
    prob, tail = 0.5**n, 0.0
    for i in range(k + 1):
        tail += prob
        prob *= (n - i) / (i + 1)
    assert mcnemar_exact(60, 90) == pytest.approx(2 * tail, rel=1e-9)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        # scipy.stats.fisher_exact(table).pvalue
        ((10, 0, 5, 5), 0.032507739938080496),
        ((20, 0, 14, 6), 0.020196020196020202),
        ((9, 1, 3, 7), 0.019766611097880443),
        ((50, 50, 30, 70), 0.005937341166015536),
        ((5, 5, 5, 5), 1.0),
        ((3, 0, 3, 0), 1.0),
    ],
)
def test_fisher_exact_p_values(table: tuple[int, int, int, int], expected: float) -> None:
    assert fisher_exact(*table) == pytest.approx(expected, rel=1e-9)


def case(
    name: str, status: str, *, suite: str = "suites/a.yaml", line: int = 3, tokens: int = 10, **extra: object
) -> CaseResult:
    return CaseResult(nodeid=f"{suite}::{name}", file=suite, line=line, status=status, suite=suite,  # type: ignore[arg-type]
                      prompt_tokens=tokens, model=str(extra.pop("model", "m")), **extra)  # type: ignore[arg-type]  # fmt: skip


def run(*cases: CaseResult) -> RunRecord:
    return RunRecord(cases=list(cases))


def test_every_kind_of_change() -> None:
    base = run(
        case("regress", "passed", output="fine"),
        case("errs", "passed"),
        case("fix", "failed", output="wrong"),
        case("old", "failed"),
        case("same", "passed"),
        case("gone", "passed"),
        case("cut", "passed"),
        case("wobbly", "passed", repeats=5, passes=4),
    )
    head = run(
        case("regress", "failed", output="broken"),
        case("errs", "error"),
        case("fix", "passed", output="right"),
        case("old", "failed"),
        case("same", "passed"),
        case("new", "failed"),
        case("cut", "skipped"),
        case("wobbly", "passed", repeats=5, passes=5),
    )
    result = compare(base, head)
    change = {nodeid.split("::")[1]: entry.change for nodeid, entry in result.cases.items()}
    assert change == {
        "regress": "regressed", "errs": "regressed", "fix": "fixed", "old": "still_failing", "same": "unchanged",
        "new": "added", "cut": "skipped", "wobbly": "flaky", "gone": "removed",
    }  # fmt: skip
    regress = result.cases["suites/a.yaml::regress"]
    assert (regress.base_status, regress.head_status) == ("passed", "failed")
    assert (regress.base_output, regress.head_output) == ("fine", "broken")
    assert result.cases["suites/a.yaml::gone"].head_status is None
    # new failures block: the two regressions and the added red case; the old failure does not
    assert sorted(c.nodeid.split("::")[1] for c in result.blocking) == ["errs", "new", "regress"]
    # discordant pairs: 2 regressions (b) against 1 fix (c)
    assert result.mcnemar_p == pytest.approx(mcnemar_exact(1, 2))
    data = result.to_json()
    assert data["regressed"] == ["suites/a.yaml::regress", "suites/a.yaml::errs"]
    assert data["fixed"] == ["suites/a.yaml::fix"]
    assert data["added"] == ["suites/a.yaml::new"]
    assert data["removed"] == ["suites/a.yaml::gone"]
    json.dumps(data)


def test_shards_are_merged_before_comparing() -> None:
    base = [run(case("a", "passed")), run(case("b", "passed", suite="suites/b.yaml"))]
    head = [run(case("a", "failed")), run(case("b", "passed", suite="suites/b.yaml"))]
    result = compare(base, head)
    assert [c.nodeid for c in result.of("regressed")] == ["suites/a.yaml::a"]
    assert [c.nodeid for c in result.of("unchanged")] == ["suites/b.yaml::b"]


def test_groups_carry_rates_intervals_tokens_and_latency() -> None:
    base = run(case("a", "passed", tokens=100, latency_ms=[10.0, 30.0]),
               case("b", "passed", suite="suites/b.yaml", model="other", tokens=50))  # fmt: skip
    head = run(case("a", "failed", tokens=112, latency_ms=[20.0]),
               case("b", "passed", suite="suites/b.yaml", model="other", tokens=50))  # fmt: skip
    result = compare(base, head)
    suites = {g.name: g for g in result.suites}
    a = suites["suites/a.yaml"]
    assert (a.base.pass_rate, a.head.pass_rate) == (1.0, 0.0)
    assert a.base.interval is not None
    assert a.base.interval[1] == 1.0
    assert a.base.interval[0] < 0.25
    assert a.tokens_change == pytest.approx(0.12)
    assert (a.base.p50_ms, a.head.p50_ms) == (20.0, 20.0)
    assert {g.name for g in result.models} == {"m", "other"}
    assert result.total.tokens_change == pytest.approx(12 / 150)


def test_headline_reads_like_the_reviewer_question() -> None:
    base = run(*(case(f"c{i}", "passed", tokens=100) for i in range(40)))
    head = run(*(case(f"c{i}", "failed" if i < 2 else "passed", tokens=112) for i in range(39)),
               case("c39", "passed", tokens=112))  # fmt: skip
    base.cases[39].status = "failed"
    text = comparison_headline(compare(base, head))
    assert text == "2 regressions, 1 fix · pass rate 97.5% → 95.0% (McNemar p = 1.00) · tokens +12%"


def test_significance_needs_more_regressions_and_a_small_p() -> None:
    base = run(*(case(f"c{i}", "passed") for i in range(10)))
    head = run(*(case(f"c{i}", "failed" if i < 6 else "passed") for i in range(10)))
    result = compare(base, head)
    assert result.mcnemar_p == pytest.approx(0.03125)
    assert result.significant
    # the same counts the other way round (all fixes) are not a significant regression
    assert not compare(head, base).significant


def test_sampled_cases_are_tested_on_their_pass_counts() -> None:
    base = run(case("s", "passed", repeats=20, passes=20))
    head = run(case("s", "failed", repeats=20, passes=14))
    result = compare(base, head)
    entry = result.cases["suites/a.yaml::s"]
    assert entry.p_value == pytest.approx(0.020196020196020202)
    assert result.sampled_p == pytest.approx(0.020196020196020202)
    assert entry.flaky
    assert result.significant


def test_renderings_keep_untrusted_text_inert() -> None:
    hostile = "x\x1b[31m<img src=x onerror=alert(1)> @team ```"
    base = run(case("a", "passed", output=hostile))
    head = run(case("a", "failed", output="```\n</details><script>"))
    result = compare(base, head)
    text = render_text(result)
    assert "\x1b" not in text
    assert "suites/a.yaml:3" in text
    assert "Regressions (1):" in text
    markdown = render_markdown(result)
    assert "Regressions (1)" in markdown
    # outputs sit in fences longer than any backtick run inside them, so they cannot close the block
    assert markdown.count("````text\n") == 2
    outside = [part for i, part in enumerate(markdown.split("````")) if i % 2 == 0]
    assert not any("<img" in part or "<script>" in part or "@team" in part for part in outside)
