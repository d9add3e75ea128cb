"""Case history in the ledger: each run's case statuses, the schema step that added them, and flaky cases.

The store tests run on both backends (a SQLite file and a real PostgreSQL server). The end-to-end test makes
real runs against the vLLM double whose answer to one case alternates between runs, then judges a head run
against a baseline with that history: the case is marked flaky with its evidence, and the check stays red.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from helm_eval._records import CaseResult
from helm_eval.ledger import LEDGER_VERSION, CallRow, Ledger, case_history, flaky_cases, record_outcomes
from tests.conftest import word_suite

LABELS: dict[str, str | None] = {"repo": "acme/app", "branch": "main"}


def _case(nodeid: str, status: str) -> CaseResult:
    return CaseResult(nodeid, "suites/qa.yaml", 4, status, suite="suites/qa.yaml", repeats=1,  # type: ignore[arg-type]
                      passes=int(status == "passed"))  # fmt: skip


def _runs(ledger: Ledger, statuses: list[dict[str, str]], labels: dict[str, str | None] = LABELS) -> None:
    for index, run in enumerate(statuses):
        record_outcomes(ledger, f"run-{labels.get('branch')}-{index}", labels,
                        [_case(nodeid, status) for nodeid, status in run.items()])  # fmt: skip


def test_a_version_1_ledger_is_migrated_keeping_its_calls(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    ledger.record_calls([CallRow("old-run", dict(LABELS), "suites/qa.yaml", "a", "m", "default", 5, 3)])
    with ledger.transaction():  # what a ledger written by the previous release looks like
        ledger.execute("DROP TABLE helm_eval_case_outcomes")
        ledger.execute("UPDATE helm_eval_meta SET value = '1' WHERE key = 'version'")
    ledger.close()
    old = Ledger(ledger_url, read_only=True)  # read-only (helm-eval cost, flaky): readable, no history
    assert old.version == 1
    assert case_history(old, "main") == {}
    old.close()
    migrated = Ledger(ledger_url)
    assert migrated.version == LEDGER_VERSION == 2
    row = migrated.execute("SELECT value FROM helm_eval_meta WHERE key = 'version'").fetchone()
    assert row == ("2",)
    assert [c["run_id"] for c in migrated.calls()] == ["old-run"]
    assert record_outcomes(migrated, "new-run", LABELS, [_case("suites/qa.yaml::a", "failed")]) == 1
    assert case_history(migrated, "main")["suites/qa.yaml::a"].statuses == ("failed",)
    migrated.close()


def test_history_is_per_branch_newest_first_within_the_window(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    # a: passes, fails, passes...; b: always fails; c: passes; d: skipped once, else passes
    runs = [{"a": "passed" if i % 2 else "failed", "b": "failed", "c": "passed", "d": "skipped" if i == 5 else "passed"}
            for i in range(6)]  # fmt: skip
    _runs(ledger, runs)
    _runs(ledger, [{"c": "failed"}], labels={**LABELS, "branch": "feature"})  # another branch: not main's history
    history = case_history(ledger, "main", runs=4)
    assert history["a"].statuses == ("passed", "failed", "passed", "failed")  # run 5 first
    assert history["a"].flaky
    assert history["a"].evidence == "failed 2 of the last 4 runs on main"
    assert not history["b"].flaky
    assert history["b"].failures == 4
    assert not history["c"].flaky
    assert history["d"].runs == 4
    assert history["d"].statuses == ("passed",) * 4
    assert [h.nodeid for h in flaky_cases(history)] == ["a"]
    assert case_history(ledger, "feature")["c"].statuses == ("failed",)
    # the window decides: the last run alone never disagrees with itself
    assert not case_history(ledger, "main", runs=1)["a"].flaky
    assert case_history(ledger, "main", runs=2, exclude_run="run-main-5")["a"].statuses == ("failed", "passed")
    assert set(case_history(ledger, "main", nodeids=["a"])) == {"a"}
    # a run that records again replaces its rows instead of counting twice
    record_outcomes(ledger, "run-main-5", LABELS, [_case("a", "failed")])
    assert case_history(ledger, "main", runs=2)["a"].statuses == ("failed", "failed")
    ledger.close()


def test_the_history_of_given_cases_equals_their_part_of_the_whole_history(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    statuses = ("passed", "failed", "error", "skipped")
    runs = [{f"case-{c}": statuses[(r * 7 + c * 3) % 4] for c in range(12) if (r + c) % 5} for r in range(15)]
    _runs(ledger, runs)
    _runs(ledger, runs[:4], labels={**LABELS, "branch": None})
    for branch in ("main", None):
        for window, excluded in ((4, None), (10, "run-main-14"), (1, "run-main-3")):
            whole = case_history(ledger, branch, runs=window, exclude_run=excluded)
            wanted = ["case-1", "case-5", "case-11", "case-never-run", "case-1"]
            given = case_history(ledger, branch, runs=window, exclude_run=excluded, nodeids=wanted)
            assert given == {n: h for n, h in whole.items() if n in wanted}
            assert given, (branch, window)
    ledger.close()


def test_a_branch_with_no_earlier_judged_run_has_no_history(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    assert case_history(ledger, "main", nodeids=["case-1"]) == {}  # a new ledger
    _runs(ledger, [{"case-1": "passed", "case-2": "skipped"}])  # run-main-0
    assert case_history(ledger, "feature", nodeids=["case-1"]) == {}
    assert case_history(ledger, "main", exclude_run="run-main-0", nodeids=["case-1"]) == {}
    assert case_history(ledger, "main", nodeids=["case-2"]) == {}  # skipped runs are not judged runs
    assert case_history(ledger, "main", nodeids=["case-1", "case-2"])["case-1"].statuses == ("passed",)
    ledger.close()


SUITE = word_suite("alpha", "bravo", "charlie")


def _run(project: Any, *args: str) -> Any:
    return project.run("--helm-eval-cache", "off", "--helm-eval-ledger", "ledger.sqlite",
                       "--helm-eval-label", "branch=main", *args)  # fmt: skip


def _cli(project: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "helm_eval.cli", *args], cwd=project.path, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip


def test_a_case_whose_answers_alternate_is_flaky_in_history_and_still_red(project: Any) -> None:
    project.suite("qa.yaml", SUITE)
    # four runs on main: the double answers bravo wrongly every other run; charlie is always wrong
    for index in range(4):
        wrong = ["charlie", "bravo"] if index % 2 == 0 else ["charlie"]
        project.double.set(rules=[(word, "no idea") for word in wrong])
        _run(project, "--helm-eval-report", "base.json").assert_outcomes(passed=3 - len(wrong), failed=len(wrong))
    # the last run (bravo passed) is the baseline; the head run gets bravo wrong again
    project.double.set(rules=[("bravo", "no idea"), ("charlie", "no idea")])
    result = _run(project, "--helm-eval-baseline", "base.json", "--helm-eval-fail-on", "regression",
                  "--helm-eval-report", "run.json")  # fmt: skip
    result.assert_outcomes(passed=1, failed=2)
    assert result.ret == 1  # history informs; it never makes a new failure pass
    result.stdout.fnmatch_lines([
        "  regressed: suites/qa.yaml:10 suites/qa.yaml::bravo (passed → failed); flaky (history): "
        "failed 2 of the last 4 runs on main",
        "gate: red: 1 new failure(s) against the baseline",
        "flaky (history): suites/qa.yaml:10 suites/qa.yaml::bravo failed 2 of the last 4 runs on main; now failed",
    ])  # fmt: skip
    assert "charlie failed" not in result.stdout.str()  # failing every run is not flaky
    record = project.record()
    history = {c["nodeid"].split("::")[1]: c["history"] for c in record["cases"]}
    assert history == {"alpha": None, "bravo": "failed 2 of the last 4 runs on main", "charlie": None}
    assert record["baseline"]["blocking"] == ["suites/qa.yaml::bravo"]

    # the job summary marks it too
    summary = project.path / "summary.md"
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": os.devnull}
    args = ["report", "run.json", "--github", "--comment", "off", "--fail-on", "regression"]
    report = subprocess.run([sys.executable, "-m", "helm_eval.cli", *args], cwd=project.path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert report.returncode == 1, report.stderr  # red: a failure, whatever its history
    markdown = summary.read_text(encoding="utf-8")
    assert "❌ regressed, flaky in history" in markdown
    assert "### Flaky in history" in markdown
    assert "failed (regressed) · flaky in history: failed 2 of the last 4 runs on main" in markdown

    # helm-eval compare with the ledger as history, and helm-eval flaky listing a quarantine to review
    compared = _cli(project, "compare", "base.json", "run.json", "--history", "ledger.sqlite", "--format", "json",
                    "--fail-on", "regression")  # fmt: skip
    assert compared.returncode == 1, compared.stderr
    data = json.loads(compared.stdout)
    assert data["regressed"] == data["flaky_history"] == ["suites/qa.yaml::bravo"]
    bravo = next(c for c in data["cases"] if c["nodeid"] == "suites/qa.yaml::bravo")
    assert bravo["history"]["failures"] == 3
    assert bravo["history"]["runs"] == 5
    text = _cli(project, "compare", "base.json", "run.json", "--history", "ledger.sqlite")
    assert "passed → failed · flaky (history): failed 3 of the last 5 runs on main" in text.stdout
    flaky = _cli(project, "flaky", "--ledger", "ledger.sqlite", "--branch", "main", "--format", "yaml")
    assert flaky.returncode == 0, flaky.stderr
    assert '    - "suites/qa.yaml::bravo"  # failed 3 of the last 5 runs on main' in flaky.stdout
    assert "charlie" not in flaky.stdout
    elsewhere = _cli(project, "flaky", "--ledger", "ledger.sqlite", "--branch", "feature")
    assert elsewhere.stdout.startswith("helm-eval flaky: 0 of 0 case(s)")


def test_history_off_and_a_missing_ledger(project: Any, tmp_path: Path) -> None:
    project.suite("qa.yaml", SUITE)
    project.double.set(rules=[("bravo", "no idea")])
    _run(project)
    project.double.set(rules=[])
    _run(project)
    project.double.set(rules=[("bravo", "no idea")])
    shown = _run(project)
    assert "flaky (history): suites/qa.yaml:10 suites/qa.yaml::bravo failed 1 of the last 2 runs on main" in (
        shown.stdout.str()
    )
    hidden = _run(project, "--helm-eval-history-runs", "0")
    assert "flaky (history)" not in hidden.stdout.str()
    missing = _cli(project, "flaky", "--ledger", str(tmp_path / "none.sqlite"))
    assert missing.returncode == 2
    assert missing.stderr.startswith("helm-eval: no ledger at ")
