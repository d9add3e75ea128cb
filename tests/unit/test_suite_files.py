"""Tests kept in files (``tests: file://x.csv|jsonl|yaml``): promptfoo's semantics, rows reported at their line."""

from __future__ import annotations

import json
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from helm_eval.collect import load_suite
from helm_eval.collect._shorthand import ShorthandError, assertion_from_string
from helm_eval.config import SuiteError
from tests.conftest import Project


def put(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(root: Path, tests: str = "file://cases.csv") -> list:
    put(root, "suites/s.yaml", f'prompts: ["Capital of {{{{country}}}}?"]\ntests: {tests}\n')
    return load_suite(root / "suites/s.yaml", "suites/s.yaml")


def load_error(root: Path, tests: str = "file://cases.csv") -> SuiteError:
    with pytest.raises(SuiteError) as info:
        load(root, tests)
    return info.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("contains:Paris", {"type": "contains", "value": "Paris"}),
        ("not-icontains:sorry", {"type": "not-icontains", "value": "sorry"}),
        ("icontains-any:yes, yeah ,y", {"type": "icontains-any", "value": ["yes", "yeah", "y"]}),
        ("regex:^\\d+$", {"type": "regex", "value": "^\\d+$"}),
        ("levenshtein(3):Paris", {"type": "levenshtein", "value": "Paris", "threshold": 3.0}),
        ("is-json", {"type": "is-json"}),
        ("grade:is polite", {"type": "llm-rubric", "value": "is polite"}),
        ("llm-rubric: is polite", {"type": "llm-rubric", "value": " is polite"}),
        ("Paris", {"type": "equals", "value": "Paris"}),
        ("note: a colon", {"type": "equals", "value": "note: a colon"}),
        ("contains:a:b", {"type": "contains", "value": "a:b"}),
    ],
)
def test_expected_shorthand_follows_promptfoo(text: str, expected: dict) -> None:
    assert assertion_from_string(text) == expected


@pytest.mark.parametrize("text", ["javascript:output.length > 3", "fn:x", "python:len(output)", "file://check.js"])
def test_code_in_a_cell_is_refused_with_what_to_do(text: str) -> None:
    with pytest.raises(ShorthandError, match="python:module:function"):
        assertion_from_string(text)


def test_csv_columns_are_vars_and_special_columns_fill_the_test(tmp_path: Path) -> None:
    put(
        tmp_path,
        "suites/cases.csv",
        """
        country,__expected,__expected2,__description,__metadata:owner,__metadata:langs[]
        Spain,contains:Madrid,not-icontains:sorry,spain,team-a,"es, ca"
        "Ita
        ly",icontains-any:rome,,,,
        """,
    )
    spain, italy = load(tmp_path)
    assert (spain.id, spain.file, spain.line, spain.suite_file) == ("spain", "suites/cases.csv", 2, "suites/s.yaml")
    assert spain.vars == {"country": "Spain"}
    assert [(a.type, a.value, a.negate, a.line) for a in spain.assertions] == [
        ("contains", "Madrid", False, 2),
        ("icontains", "sorry", True, 2),
    ]
    assert spain.metadata == {"owner": "team-a", "langs": ["es", "ca"]}
    assert spain.messages[0]["content"] == "Capital of Spain?"
    # a quoted cell spanning lines: the row starts on line 3; no description → file:line names it
    assert (italy.id, italy.line, italy.vars) == ("cases.csv:3", 3, {"country": "Ita\nly"})


def test_jsonl_and_yaml_files_and_globs_keep_their_lines(tmp_path: Path) -> None:
    put(tmp_path, "suites/data/a.jsonl", '{"vars": {"country": "Peru"}}\n\n{"vars": {"country": "Chile"}}\n')
    put(tmp_path, "suites/data/b.yaml", "- vars: {country: Cuba}\n\n- description: haiti\n  vars: {country: Haiti}\n")
    cases = load(tmp_path, "[file://data/*]")
    assert [(c.file, c.line, c.id) for c in cases] == [
        ("suites/data/a.jsonl", 1, "a.jsonl:1"),
        ("suites/data/a.jsonl", 3, "a.jsonl:3"),
        ("suites/data/b.yaml", 1, "b.yaml:1"),
        ("suites/data/b.yaml", 3, "haiti"),
    ]


def test_inline_tests_and_files_mix_and_duplicate_row_names_get_their_line(tmp_path: Path) -> None:
    put(tmp_path, "suites/cases.csv", "country,__description\nPeru,same\nChile,same\n")
    cases = load(tmp_path, "[{vars: {country: Cuba}}, file://cases.csv]")
    assert [c.id for c in cases] == ["test-1", "same", "same (cases.csv:3)"]


@pytest.mark.parametrize(
    ("name", "text", "where", "message"),
    [
        ("cases.csv", "country,__expected\nPeru,javascript:1\n", "suites/cases.csv:2", "__expected: javascript:"),
        ("cases.csv", "country\nPeru,extra\n", "suites/cases.csv:2", "the row has 2 cells and the header 1"),
        ("cases.csv", "country,__prefix\nPeru,x\n", "suites/cases.csv:1", "'__prefix' is not supported"),
        ("cases.csv", "country,__expected\nPeru,contans:x\nChile,x\n", None, None),
        ("cases.csv", "country,__expected\nPeru,ok\nChile,regex:(\n", "suites/cases.csv:3", "assert[0]: assertion"),
        ("cases.csv", "country,__threshold\nPeru,high\n", "suites/cases.csv:2", "__threshold: 'high' is not a"),
        ("cases.jsonl", '{"vars": {}}\n{"vars": \n', "suites/cases.jsonl:2", "invalid JSON"),
        ("cases.jsonl", '{"vars": {}}\n\n["x"]\n', "suites/cases.jsonl:3", "one test object"),
        ("cases.jsonl", '{"vars": {}, "provider": "x"}\n', "suites/cases.jsonl:1", "provider: unknown field"),
        ("cases.txt", "x\n", "suites/s.yaml:2", "cannot read tests from a .txt file"),
    ],
)
def test_a_malformed_row_is_one_error_at_its_file_and_line(
    tmp_path: Path, name: str, text: str, where: str | None, message: str | None
) -> None:
    put(tmp_path, f"suites/{name}", text)
    if where is None:  # not a known type: promptfoo reads the whole cell as an equals check
        assert [a.type for c in load(tmp_path) for a in c.assertions] == ["equals", "equals"]
        return
    error = load_error(tmp_path, f"file://{name}")
    assert str(error).startswith(f"{where}: "), str(error)
    assert message in str(error)
    assert "\n" not in str(error)


def test_files_outside_the_project_or_missing_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    put(tmp_path, "secret.csv", "country\nx\n")
    put(root, "suites/s.yaml", "prompts: [hi]\ntests: file://../../secret.csv\n")
    with pytest.raises(SuiteError, match="outside the project"):
        load_suite(root / "suites/s.yaml", "suites/s.yaml")
    assert "cannot read suites/nope.csv" in str(load_error(tmp_path, "file://nope.csv"))
    assert "matches no file" in str(load_error(tmp_path, "file://*.nope"))


def test_a_failing_row_is_reported_at_its_csv_line(project: Project) -> None:
    project.suite("s.yaml", 'prompts: ["{{q}}"]\ntests: file://rows.csv\n')
    project.suite("rows.csv", "q,__expected\nsay hi,contains:hi\nsay bye,contains:nope\n")
    result = project.run("-v", "--junitxml=j.xml", "--helm-eval-report", "run.json")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*suites/rows.csv:3: rows.csv:3*"])
    failed = next(c for c in project.record()["cases"] if c["status"] == "failed")
    assert (failed["file"], failed["line"], failed["suite"]) == ("suites/rows.csv", 3, "suites/s.yaml")
    assert failed["nodeid"] == "suites/s.yaml::rows.csv:3"
    case = next(t for t in ET.parse(project.path / "j.xml").iter("testcase") if t.get("name") == "rows.csv:3")
    assert (case.get("file"), case.get("line")) == ("suites/rows.csv", "3")
    assert json.loads((project.path / "run.json").read_text())["totals"]["cases"] == 2
