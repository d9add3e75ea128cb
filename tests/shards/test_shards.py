"""Shards: ``--helm-eval-shard I/N`` runs a deterministic share of the cases; the shards' records merge.

Each case's shard is a hash of its node id, so the split does not depend on the order or number of other
cases; the union of the shards is every case, once; shards of one pull request share its budget through the
ledger they write to.
"""

from __future__ import annotations

from typing import Any

import pytest

from helm_eval._records import RunRecord
from helm_eval.collect import Shard
from helm_eval.report._merge import merge_records

CASES = 12
SUITE = "prompts: ['Say {{n}}']\ntests:\n" + "".join(
    f"  - {{id: case{i}, vars: {{n: '{i}'}}, assert: [{{type: contains, value: '{i}'}}]}}\n" for i in range(CASES)
)
PYTHON_TESTS = "".join(f"def test_plain_{i}():\n    pass\n\n" for i in range(4))


def shard_run(project: Any, shard: str, *extra: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    report = f"run-{shard.replace('/', 'of')}.json"
    result = project.run("--helm-eval-shard", shard, "--helm-eval-report", report, "--helm-eval-cache", "off", *extra)
    return result, project.record(report)


def ids(record: dict[str, Any]) -> set[str]:
    return {case["nodeid"] for case in record["cases"]}


def test_two_shards_split_the_cases_once_each_and_merge_into_the_whole_run(project: Any) -> None:
    project.suite("x.yaml", SUITE)
    project.file("test_plain.py", PYTHON_TESTS)
    first, one = shard_run(project, "1/2")
    sent_first = len(project.chat_requests())
    second, two = shard_run(project, "2/2")
    assert ids(one).isdisjoint(ids(two))
    assert ids(one) | ids(two) == {f"suites/x.yaml::case{i}" for i in range(CASES)}
    assert ids(one)
    assert ids(two)
    # only this shard's calls were sent, and pytest reports the rest as deselected
    assert sent_first == len(ids(one))
    assert len(project.chat_requests()) == CASES
    outcomes = [first.parseoutcomes(), second.parseoutcomes()]
    assert sum(o.get("passed", 0) for o in outcomes) == CASES + 4  # the Python tests are sharded too
    assert sum(o.get("deselected", 0) for o in outcomes) == CASES + 4
    assert (one["labels"]["shard"], two["labels"]["shard"]) == ("1/2", "2/2")
    merged = merge_records([RunRecord.from_json(one), RunRecord.from_json(two)])
    assert merged.totals()["passed"] == CASES
    assert "shard" not in merged.labels


def test_shards_hold_under_xdist(project: Any) -> None:
    project.suite("x.yaml", SUITE)
    result = project.run("-n", "2", "--helm-eval-shard", "1/2", "--helm-eval-report", "run.json")
    expected = {f"suites/x.yaml::case{i}" for i in range(CASES) if Shard(1, 2).holds(f"suites/x.yaml::case{i}")}
    assert ids(project.record()) == expected
    assert result.parseoutcomes()["passed"] == len(expected)
    assert len(project.chat_requests()) == len(expected)


def test_the_shard_comes_from_the_environment_too(project: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    project.suite("x.yaml", SUITE)
    monkeypatch.setenv("HELM_EVAL_SHARD", "2/3")
    result = project.run("--helm-eval-report", "run.json")
    expected = {f"suites/x.yaml::case{i}" for i in range(CASES) if Shard(2, 3).holds(f"suites/x.yaml::case{i}")}
    assert ids(project.record()) == expected
    result.assert_outcomes(passed=len(expected), deselected=CASES - len(expected))


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--helm-eval-shard", "3/2"], None, "*--helm-eval-shard expects I/N with 1 <= I <= N, got '3/2'*"),
        (["--helm-eval-shard", "half"], None, "*--helm-eval-shard expects I/N (e.g. 1/2*"),
        ([], "0/2", "*HELM_EVAL_SHARD expects I/N with 1 <= I <= N, got '0/2'*"),
    ],
)
def test_shard_mistakes_are_usage_errors(
    project: Any, monkeypatch: pytest.MonkeyPatch, args: list[str], env: str | None, message: str
) -> None:
    project.suite("x.yaml", SUITE)
    if env is not None:
        monkeypatch.setenv("HELM_EVAL_SHARD", env)
    result = project.run(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_the_pull_request_budget_holds_across_shards_through_the_shared_ledger(project: Any) -> None:
    project.suite("x.yaml", SUITE)
    labels = ("--helm-eval-label", "repo=acme/agents", "--helm-eval-label", "pr=7", "--helm-eval-on-exhausted", "warn")
    _, one = shard_run(project, "1/2", "--helm-eval-budget-tokens", "100000", *labels)
    spent = one["budget"]["used_tokens"]
    assert spent > 0
    # the second shard of the same pull request finds the first one's spend in the ledger: 5 tokens are left
    second, two = shard_run(project, "2/2", "--helm-eval-budget-tokens", str(spent + 5), *labels)
    second.assert_outcomes(skipped=len(ids(two)), deselected=CASES - len(ids(two)))
    assert all("budget" in (case["skip_reason"] or "") for case in two["cases"])
    assert two["budget"]["used_tokens"] <= spent + 5


def test_a_case_keeps_its_shard_when_other_cases_come_and_go() -> None:
    shard = Shard(1, 4)
    before = {f"suites/a.yaml::case{i}": shard.holds(f"suites/a.yaml::case{i}") for i in range(200)}
    # the split depends on each id only: no position, no count of cases
    assert all(shard.holds(nodeid) == held for nodeid, held in before.items())
    held = sum(before.values())
    assert 30 <= held <= 70  # about a quarter of 200
    assert all(sum(Shard(i, 4).holds(n) for i in range(1, 5)) == 1 for n in before)
    assert all(Shard(1, 1).holds(n) for n in before)


@pytest.mark.parametrize("text", ["1/0", "0/1", "2", "a/b", "1/2/3", ""])
def test_shard_parse_refuses_what_is_not_i_of_n(text: str) -> None:
    with pytest.raises(ValueError, match="expects I/N"):
        Shard.parse(text)
