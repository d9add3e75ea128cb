"""Reports: the JSON run record, JUnit properties and locations, the terminal summary."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from helm_eval import CaseResult, RunRecord
from helm_eval._records import RUN_RECORD_VERSION
from helm_eval._stats import percentile, wilson_interval
from helm_eval.report import add_locations, junit_names, read_run_record, summary_rows, write_run_record, write_summary

SUITE = """
    description: arithmetic
    prompts: ["What is {{a}}+{{b}}?"]
    tests:
      - id: two
        vars: {a: 1, b: 1}
        assert:
          - type: contains
            value: "1+1"

      - id: four
        vars: {a: 2, b: 2}
        assert:
          - type: contains
            value: "= 4"
"""

USAGE_PROPERTIES = ["prompt_tokens", "completion_tokens", "total_tokens", "latency_ms", "model", "endpoint"]


def case(nodeid: str = "suites/x.yaml::a", status: str = "passed", **fields: Any) -> CaseResult:
    return CaseResult(nodeid, nodeid.split("::")[0], fields.pop("line", 3), status, **fields)  # type: ignore[arg-type]


# -- statistics --------------------------------------------------------------------------------------------


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(3, 5)
    assert (round(low, 4), round(high, 4)) == (0.2307, 0.8824)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    assert wilson_interval(0, 10)[0] == 0.0
    low, high = wilson_interval(50, 100)
    assert low < 0.5 < high
    assert high - low < wilson_interval(5, 10)[1] - wilson_interval(5, 10)[0]


def test_percentile_interpolates() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 95) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([4.0, 1.0, 3.0, 2.0], 100) == 4.0


# -- run record --------------------------------------------------------------------------------------------


def test_run_record_round_trips_and_is_versioned(tmp_path: Path) -> None:
    record = RunRecord(
        cases=[
            case(prompt_tokens=10, completion_tokens=5, latency_ms=[12.5], retries=1, calls=1, pass_rate_ci=(0.2, 0.9)),
            case("suites/x.yaml::b", "failed", prompt_tokens=3, completion_tokens=2, calls=1),
            case("test_a.py::test_x", "error", kind="python", error="HTTP 500"),
            case("suites/y.yaml::c", "skipped", skip_reason="budget"),
        ],
        labels={"team": "search"},
        started_at=100.0,
        finished_at=102.5,
    )
    path = tmp_path / "deep" / "run.json"
    write_run_record(record, path)
    data = json.loads(path.read_text())
    assert data["version"] == RUN_RECORD_VERSION == 1
    assert (
        data["totals"]
        | {
            "cases": 4,
            "passed": 1,
            "failed": 1,
            "error": 1,
            "skipped": 1,
            "calls": 2,
            "prompt_tokens": 13,
            "completion_tokens": 7,
            "total_tokens": 20,
            "retries": 1,
            "duration_s": 2.5,
        }
        == data["totals"]
    )
    assert data["cases"][0]["pass_rate_ci"] == [0.2, 0.9]
    assert data["cases"][0]["total_tokens"] == 15
    again = read_run_record(path)
    assert again.cases == record.cases
    assert again.labels == {"team": "search"}
    assert [p.name for p in path.parent.iterdir()] == ["run.json"]  # no temporary file left behind


def test_run_record_of_another_version_is_refused() -> None:
    with pytest.raises(ValueError, match="unsupported run record version 2"):
        RunRecord.from_json({"version": 2, "cases": []})


def test_case_result_ignores_unknown_keys() -> None:
    data = case().to_json() | {"from_the_future": 1}
    assert CaseResult.from_json(data) == case()


# -- JUnit helpers ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("nodeid", "prefix", "names"),
    [
        ("suites/x.yaml::hello", None, ("suites.x.yaml", "hello")),
        ("suites/x.yaml::hello[polite]", None, ("suites.x.yaml", "hello[polite]")),
        ("tests/test_a.py::TestK::test_b", "pre", ("pre.tests.test_a.TestK", "test_b")),
    ],
)
def test_junit_names_match_pytest(nodeid: str, prefix: str | None, names: tuple[str, str]) -> None:
    assert junit_names(nodeid, prefix) == names


def test_add_locations_sets_1_based_lines(tmp_path: Path) -> None:
    xml = tmp_path / "junit.xml"
    xml.write_text(
        '<?xml version="1.0"?><testsuites><testsuite name="pytest">'
        '<testcase classname="suites.x.yaml" name="a" time="0.1"/>'
        '<testcase classname="tests.test_b" name="test_c" time="0.1"/>'
        "</testsuite></testsuites>"
    )
    assert add_locations(xml, [case(line=7)]) == 1
    first, second = ET.parse(xml).iter("testcase")
    assert (first.get("file"), first.get("line")) == ("suites/x.yaml", "7")
    assert second.get("file") is None


def test_add_locations_leaves_an_unreadable_file_alone(tmp_path: Path) -> None:
    xml = tmp_path / "junit.xml"
    xml.write_text("<not xml")
    assert add_locations(xml, [case()]) == 0
    assert xml.read_text() == "<not xml"
    assert add_locations(tmp_path / "missing.xml", [case()]) == 0


# -- terminal summary ---------------------------------------------------------------------------------------


def test_summary_has_a_row_per_suite_and_a_total() -> None:
    record = RunRecord(
        cases=[
            case("suites/a.yaml::1", prompt_tokens=1000, completion_tokens=234, latency_ms=[10.0, 30.0]),
            case("suites/a.yaml::2", "failed", latency_ms=[20.0]),
            case("suites/b.yaml::3", "error"),
        ]
    )
    rows = summary_rows(record)
    assert rows == [
        ("suites/a.yaml", "2", "1", "1", "0", "0", "1,234", "20", "29"),
        ("suites/b.yaml", "1", "0", "0", "1", "0", "0", "-", "-"),
        ("total", "3", "1", "1", "1", "0", "1,234", "20", "29"),
    ]
    lines: list[str] = []
    write_summary(record, lines.append)
    assert lines[0].split() == [
        "suite",
        "cases",
        "passed",
        "failed",
        "error",
        "skipped",
        "tokens",
        "p50",
        "ms",
        "p95",
        "ms",
    ]
    assert lines[-1] == "calls: 0  prompt tokens: 1,000  completion tokens: 234  retries: 0  cache hits: 0"


def test_empty_summary() -> None:
    lines: list[str] = []
    write_summary(RunRecord(), lines.append)
    assert lines == ["no helm-eval cases ran"]


# -- through pytest -----------------------------------------------------------------------------------------


def properties(testcase: ET.Element) -> dict[str, str]:
    return {p.get("name", ""): p.get("value", "") for p in testcase.iter("property")}


def test_junit_has_usage_properties_and_yaml_locations(project: Any) -> None:
    project.suite("x.yaml", SUITE)
    result = project.run("--junitxml", "junit.xml")
    result.assert_outcomes(passed=1, failed=1)
    root = ET.parse(project.path / "junit.xml").getroot()
    testcases = {tc.get("name"): tc for tc in root.iter("testcase")}
    assert set(testcases) == {"two", "four"}
    two, four = testcases["two"], testcases["four"]
    assert (two.get("classname"), two.get("file"), two.get("line")) == ("suites.x.yaml", "suites/x.yaml", "4")
    assert (four.get("file"), four.get("line")) == ("suites/x.yaml", "10")
    for testcase in (two, four):
        props = properties(testcase)
        assert list(props) == USAGE_PROPERTIES
        assert int(props["prompt_tokens"]) > 0
        assert int(props["completion_tokens"]) > 0
        assert int(props["total_tokens"]) == int(props["prompt_tokens"]) + int(props["completion_tokens"])
        assert float(props["latency_ms"]) > 0
        assert (props["model"], props["endpoint"]) == ("double-model", "default")
    failure = four.find("failure")
    assert failure is not None
    assert "suites/x.yaml:10: four: failed" in (failure.get("message", "") + (failure.text or ""))
    assert two.find("failure") is None


def test_junit_records_call_errors_and_python_tests(project: Any) -> None:
    assert project.double is not None
    project.double.set(faults=["400"])
    project.suite("x.yaml", 'prompts: ["hi"]\ntests:\n  - id: broken\n')
    project.pytester.makepyfile(
        test_py="""
        def test_ask(helm_model):
            assert helm_model("hi").text
        """
    )
    result = project.run("--junitxml", "junit.xml")
    result.assert_outcomes(passed=1, errors=1)
    testcases = {tc.get("name"): tc for tc in ET.parse(project.path / "junit.xml").getroot().iter("testcase")}
    broken = testcases["broken"]
    error = broken.find("error")
    assert error is not None
    assert "HTTP 400" in error.get("message", "") + (error.text or "")
    assert (broken.get("file"), broken.get("line")) == ("suites/x.yaml", "3")
    assert properties(broken)["total_tokens"] == "0"
    python = testcases["test_ask"]
    assert properties(python)["model"] == "double-model"
    assert int(properties(python)["total_tokens"]) > 0
    assert (python.get("file"), python.get("line")) == ("test_py.py", "1")


def test_junit_locations_respect_the_junit_prefix(project: Any) -> None:
    project.suite("x.yaml", SUITE)
    project.run("--junitxml", "junit.xml", "--junit-prefix", "evals")
    testcases = list(ET.parse(project.path / "junit.xml").getroot().iter("testcase"))
    assert {(tc.get("classname"), tc.get("line")) for tc in testcases} == {
        ("evals.suites.x.yaml", "4"),
        ("evals.suites.x.yaml", "10"),
    }


def test_junit_stays_well_formed_with_hostile_output(project: Any) -> None:
    assert project.double is not None
    project.double.set(rules=[("", "\x1b[31m<b>&\x00</b>]]>")])
    project.suite("x.yaml", 'prompts: ["hi"]\ntests:\n  - id: a\n    assert:\n      - type: equals\n        value: x\n')
    project.run("--junitxml", "junit.xml")
    (testcase,) = ET.parse(project.path / "junit.xml").getroot().iter("testcase")
    failure = testcase.find("failure")
    assert failure is not None
    assert "\\x1b[31m<b>&\\x00</b>]]>" in (failure.get("message", "") + (failure.text or ""))


def test_run_record_has_every_case_with_its_facts(project: Any) -> None:
    assert project.double is not None
    project.double.set(faults=["503"])
    project.suite("x.yaml", SUITE)
    result = project.run("--helm-eval-report", "reports/run.json", "-p", "no:randomly")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"run record: {project.path / 'reports' / 'run.json'}"])
    record = project.record("reports/run.json")
    assert record["version"] == 1
    assert record["endpoints"] == {"default": {"url": project.base_url, "model": "double-model"}}
    assert record["finished_at"] >= record["started_at"] > 0
    cases = {c["nodeid"]: c for c in record["cases"]}
    assert set(cases) == {"suites/x.yaml::two", "suites/x.yaml::four"}
    two, four = cases["suites/x.yaml::two"], cases["suites/x.yaml::four"]
    assert (two["file"], two["line"], two["status"], two["kind"]) == ("suites/x.yaml", 4, "passed", "suite")
    assert (four["file"], four["line"], four["status"]) == ("suites/x.yaml", 10, "failed")
    assert four["output"] == "echo: What is 2+2?"
    assert four["verdicts"] == [
        {
            "assertion": "contains",
            "status": "fail",
            "reason": "output does not contain '= 4': 'echo: What is 2+2?'",
            "score": None,
            "threshold": None,
        }
    ]
    for entry in (two, four):
        assert entry["prompt_tokens"] > 0
        assert entry["completion_tokens"] > 0
        assert entry["total_tokens"] == entry["prompt_tokens"] + entry["completion_tokens"]
        assert len(entry["latency_ms"]) == 1
        assert entry["latency_ms"][0] > 0
        assert (entry["model"], entry["endpoint"], entry["calls"], entry["repeats"]) == (
            "double-model",
            "default",
            1,
            1,
        )
        assert entry["suite"] == "suites/x.yaml"
    assert sorted(c["retries"] for c in record["cases"]) == [0, 1]  # the one 503 hit exactly one case
    totals = record["totals"]
    assert (totals["cases"], totals["passed"], totals["failed"], totals["calls"], totals["retries"]) == (2, 1, 1, 2, 1)
    assert totals["total_tokens"] == sum(c["total_tokens"] for c in record["cases"])


def test_report_path_from_the_config_file(project: Any) -> None:
    project.file("helm-eval.yaml", "report: out/record.json\n")
    project.suite("x.yaml", SUITE)
    project.run()
    assert project.record("out/record.json")["totals"]["cases"] == 2


def test_report_paths_from_config_are_under_the_rootdir_and_from_the_option_under_the_cwd(
    project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.file("helm-eval.yaml", "report: out/record.json\n")
    project.pytester.makeini("[pytest]\n")
    project.suite("x.yaml", SUITE)
    (project.path / "sub").mkdir()
    monkeypatch.chdir(project.path / "sub")
    project.pytester.runpytest("-p", "no:cacheprovider", *project.args(".."))
    assert project.record("out/record.json")["totals"]["cases"] == 2
    project.pytester.runpytest("-p", "no:cacheprovider", *project.args("..", "--helm-eval-report", "mine.json"))
    assert project.record("sub/mine.json")["totals"]["cases"] == 2


def test_skipped_cases_are_recorded_as_skipped(project: Any) -> None:
    project.suite("x.yaml", SUITE)
    project.pytester.makeconftest(
        """
        import pytest

        def pytest_collection_modifyitems(items):
            for item in items:
                if item.name == "four":
                    item.add_marker(pytest.mark.skip(reason="not today"))
        """
    )
    result = project.run("--helm-eval-report", "run.json")
    result.assert_outcomes(passed=1, skipped=1)
    cases = {c["nodeid"]: c for c in project.record()["cases"]}
    assert cases["suites/x.yaml::four"]["status"] == "skipped"
    assert "not today" in cases["suites/x.yaml::four"]["skip_reason"]


def test_terminal_summary_shows_suites_and_tokens(project: Any) -> None:
    project.suite("x.yaml", SUITE)
    project.suite("y.yaml", 'prompts: ["hi"]\ntests:\n  - id: a\n')
    result = project.run()
    result.stdout.fnmatch_lines(
        [
            "*= helm-eval =*",
            "suite * cases * passed * failed * error * skipped * tokens * p50 ms * p95 ms",
            "suites/x.yaml * 2 * 1 * 1 * 0 * 0 *",
            "suites/y.yaml * 1 * 1 * 0 * 0 * 0 *",
            "total * 3 * 2 * 1 * 0 * 0 *",
            "calls: 3  prompt tokens: *  completion tokens: *  retries: 0  cache hits: 0",
        ]
    )
