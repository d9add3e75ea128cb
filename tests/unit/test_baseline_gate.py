"""``pytest --helm-eval --helm-eval-baseline``: each case's change in every report, and gates a PR cannot loosen.

A base run and a head run against the vLLM double, whose answers change between the two (``rules``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from tests.conftest import word_suite

SUITE = word_suite("alpha", "bravo", "charlie", "delta")


def _answers(project: Any, *wrong: str) -> None:
    project.double.set(rules=[(word, "no idea") for word in wrong])


def _run(project: Any, *args: str) -> Any:
    return project.run("--helm-eval-cache", "off", *args)  # every run asks the double afresh


@pytest.fixture
def base(project: Any) -> Any:
    """A base run where charlie and delta fail; its record is base.json."""
    project.suite("qa.yaml", SUITE)
    _answers(project, "charlie", "delta")
    _run(project, "--helm-eval-report", "base.json").assert_outcomes(passed=2, failed=2)
    return project


def test_head_run_shows_each_change_everywhere(base: Any) -> None:
    _answers(base, "alpha", "charlie")  # alpha regresses, delta is fixed, charlie still fails
    result = _run(base, "--helm-eval-baseline", "base.json", "--helm-eval-report", "run.json", "--junitxml", "j.xml")
    result.assert_outcomes(passed=2, failed=2)
    assert result.ret == 1  # pytest's own rule: any failure
    result.stdout.fnmatch_lines([
        "baseline base.json: 1 regression, 1 fix · pass rate 50.0% → 50.0% (McNemar p = 1.00) · tokens +0%",
        "  regressed: suites/qa.yaml:4 suites/qa.yaml::alpha (passed → failed)",
        "  fixed: suites/qa.yaml:22 suites/qa.yaml::delta (failed → passed)",
        "gate: red: 2 case(s) failed",
    ])  # fmt: skip
    record = base.record()
    changes = {c["nodeid"].split("::")[1]: (c["change"], c["base_status"]) for c in record["cases"]}
    assert changes == {"alpha": ("regressed", "passed"), "bravo": ("unchanged", "passed"),
                       "charlie": ("still_failing", "failed"), "delta": ("fixed", "failed")}  # fmt: skip
    assert record["baseline"]["blocking"] == ["suites/qa.yaml::alpha"]
    assert record["baseline"]["counts"]["regressed"] == 1
    props = {
        tc.get("name"): {p.get("name"): p.get("value") for p in tc.iter("property")}
        for tc in ET.parse(base.path / "j.xml").iter("testcase")
    }
    assert props["alpha"]["change"] == "regressed"
    assert props["alpha"]["base_status"] == "passed"
    assert props["delta"]["change"] == "fixed"
    # the job summary (and so the PR comment and MR note, the same markdown) lists the change at its suite line
    summary = base.path / "summary.md"
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": os.devnull}
    done = subprocess.run([sys.executable, "-m", "helm_eval.cli", "report", "run.json", "--github", "--comment",
                           "off", "--fail-on", "regression"], cwd=base.path, env=env, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "1 new failure(s) against the baseline" in done.stderr
    text = summary.read_text(encoding="utf-8")
    # (record text is escaped as any other: parentheses and "=" as character references)
    assert "**Change vs base**: 1 regression, 1 fix · pass rate 50.0% → 50.0% &#40;McNemar p &#61; 1.00&#41;" in text
    assert "| ❌ regressed | suites/qa.yaml&#58;4 | alpha | passed | failed |" in text
    assert "failed (already failing in the base)" in text
    assert "::error title=helm-eval regressed%3A alpha,file=suites/qa.yaml,line=4::" in done.stdout


def test_fail_on_regression_is_red_only_for_new_failures(base: Any) -> None:
    _answers(base, "charlie")  # charlie fails as before; delta fixed; nothing new
    green = _run(base, "--helm-eval-baseline", "base.json", "--helm-eval-fail-on", "regression")
    green.assert_outcomes(passed=3, failed=1)
    assert green.ret == 0
    green.stdout.fnmatch_lines(["gate: green: fail-on regression: no new failures, 1 failure(s) already in the base*"])
    _answers(base, "charlie", "bravo")
    red = _run(base, "--helm-eval-baseline", "base.json", "--helm-eval-fail-on", "regression")
    assert red.ret == 1
    red.stdout.fnmatch_lines(["gate: red: 1 new failure(s) against the baseline"])


def test_a_pull_requests_config_cannot_turn_a_red_check_green(base: Any) -> None:
    _answers(base, "alpha", "charlie")  # alpha is a real regression
    # the PR commits a baseline in which alpha already failed, quarantines alpha and asks for a laxer rule
    fake = json.loads((base.path / "base.json").read_text(encoding="utf-8"))
    for case in fake["cases"]:
        case["status"] = "failed"
    (base.path / "fake.json").write_text(json.dumps(fake), encoding="utf-8")
    base.file("helm-eval.yaml", """
        baseline: fake.json
        gate:
          fail_on: significant
          min_pass_rate: 0.0
          quarantine: ["suites/qa.yaml::alpha", "suites/qa.yaml::charlie"]
    """)  # fmt: skip
    # trusted: fail on regressions against the real base run
    trusted = _run(base, "--helm-eval-baseline", "base.json", "--helm-eval-fail-on", "regression")
    assert trusted.ret == 1
    trusted.stdout.fnmatch_lines(["gate: red: 1 new failure(s) against the baseline"])
    # no trusted baseline: the config's own baseline is shown but cannot pass failures
    alone = _run(base, "--helm-eval-report", "run.json")
    assert alone.ret == 1
    alone.stdout.fnmatch_lines(["baseline fake.json (from the project config*", "gate: red: 2 case(s) failed*"])
    assert base.record()["baseline"]["trusted"] is False


def test_the_config_can_make_the_gate_stricter(base: Any) -> None:
    _answers(base, "charlie")  # 3 of 4 pass, nothing new fails
    base.file("helm-eval.yaml", "gate:\n  min_pass_rate: 0.9\n")
    result = _run(base, "--helm-eval-baseline", "base.json", "--helm-eval-fail-on", "regression")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["gate: red: pass rate 75.0% below the minimum 90.0%"])
    base.file("helm-eval.yaml", "gate:\n  fail_on: failure\n")
    assert _run(base, "--helm-eval-baseline", "base.json", "--helm-eval-fail-on", "regression").ret == 1


def test_a_trusted_quarantine_hides_old_failures_but_not_regressions(base: Any) -> None:
    policy = base.file("policy.yaml", 'gate:\n  quarantine: ["suites/qa.yaml::charlie", "suites/qa.yaml::alpha"]\n')
    _answers(base, "charlie")
    quiet = _run(base, "--helm-eval-policy", str(policy))
    assert quiet.ret == 0  # charlie quarantined, no baseline needed
    quiet.stdout.fnmatch_lines([
        "gate: green: fail-on failure: no new failures, 1 quarantined",
        "quarantined (policy): suites/qa.yaml:16 suites/qa.yaml::charlie failed; does not fail the check",
    ])  # fmt: skip
    _answers(base, "charlie", "alpha")
    result = _run(base, "--helm-eval-policy", str(policy), "--helm-eval-baseline", "base.json")
    assert result.ret == 1  # alpha passed in the base: a quarantine cannot hide a regression
    result.stdout.fnmatch_lines([
        "gate: red: 1 case(s) failed",
        "quarantined (policy): suites/qa.yaml:4 suites/qa.yaml::alpha failed; still fails the check: it regressed",
    ])  # fmt: skip


def test_no_baseline_is_reported_and_the_run_behaves_as_today(base: Any) -> None:
    _answers(base, "charlie")
    result = _run(base, "--helm-eval-baseline", "missing.json", "--helm-eval-fail-on", "regression")
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "baseline: none (baseline: no run record at missing.json); judged without one",
        "gate: red: 1 case(s) failed (fail-on regression needs a trusted baseline; judged as failure)",
    ])  # fmt: skip
    plain = _run(base)
    assert plain.ret == 1
    assert not [line for line in plain.stdout.lines if line.startswith(("baseline", "gate:"))]


def test_a_stopped_run_is_never_turned_green_and_bad_floors_are_usage_errors(base: Any) -> None:
    _answers(base, "charlie")  # only the old failure; -x stops the run there, before delta is judged
    stopped = _run(base, "-x", "--helm-eval-baseline", "base.json", "--helm-eval-fail-on", "regression")
    assert stopped.ret == 1
    bad = _run(base, "--helm-eval-min-pass-rate", "1.5")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--helm-eval-min-pass-rate must be between 0 and 1, got 1.5*"])


def test_the_html_page_of_a_baseline_run_shows_each_change_and_the_base_output(base: Any) -> None:
    _answers(base, "alpha", "charlie")
    _run(base, "--helm-eval-baseline", "base.json", "--helm-eval-html", "page.html")
    page = (base.path / "page.html").read_text()
    (blob,) = re.findall(r'<script type="application/json" id="data">(.*?)</script>', page, re.S)
    data = json.loads(blob)
    assert data["baseline"]["label"] == "base.json"
    assert data["baseline"]["changes"]["regressed"] == 1
    cases = {c["id"].split("::")[1]: c for c in data["cases"]}
    assert (cases["alpha"]["change"], cases["alpha"]["base_status"]) == ("regressed", "passed")
    assert "alpha" in cases["alpha"]["base_output"]  # the base run answered right; the head says "no idea"
    assert cases["delta"]["change"] == "fixed"
