"""helm-eval's JUnit XML has the shape pytest writes and CI reporters read: validated against tests/schemas/junit.xsd.

The run has every part of that shape: passed, failed, errored and skipped tests (a suite case cut by the budget
among them), suite and case properties (helm-eval's usage and cost ones too), captured output, and the 1-based
``file``/``line`` helm-eval adds in both JUnit families. The schema rejects what pytest would never write.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from tests.conftest import Project

SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "junit.xsd"

SUITE = """
    prompts: ["{{q}}"]
    defaultTest: {options: {max_tokens: 16}}
    tests:
      - id: right
        vars: {q: "What is 2+2?"}
        assert: [{type: contains, value: "2+2"}]
      - id: wrong
        vars: {q: "What is 2+2?"}
        assert: [{type: contains, value: "five"}]
      - id: too-big
        vars: {q: "Write an essay."}
        options: {max_tokens: 500}
"""
CONFIG = """
    budget: {case: {tokens: 100}, on_exhausted: warn}
    prices:
      double-model: {input_usd_per_1m: 1, output_usd_per_1m: 2}
"""
PYTHON_TESTS = """
    import sys

    import pytest


    def test_prints(record_property, record_testsuite_property):
        record_testsuite_property("shard", "1")
        record_property("owner", "evals")
        print("to stdout")
        print("to stderr", file=sys.stderr)


    def test_skips():
        pytest.skip("not today")


    @pytest.fixture
    def broken():
        raise RuntimeError("fixture broke")


    def test_errors(broken):
        pass


    def test_fails():
        assert 1 == 2
"""
EVERY_ELEMENT = {
    "testsuites", "testsuite", "properties", "property", "testcase",
    "failure", "error", "skipped", "system-out", "system-err",
}  # fmt: skip


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(SCHEMA)))


def junit_of_a_run(project: Project, family: str) -> etree._ElementTree:
    project.suite("x.yaml", SUITE)
    project.file("helm-eval.yaml", CONFIG)
    project.file("test_py.py", PYTHON_TESTS)
    result = project.run("--junitxml", "junit.xml", "-o", f"junit_family={family}", "-o", "junit_logging=all")
    result.assert_outcomes(passed=2, failed=2, skipped=2, errors=1)
    return etree.parse(str(project.path / "junit.xml"))


@pytest.mark.parametrize("family", ["xunit2", "xunit1"])
def test_the_junit_of_a_run_is_valid(project: Project, schema: etree.XMLSchema, family: str) -> None:
    doc = junit_of_a_run(project, family)
    assert schema.validate(doc), schema.error_log
    assert {element.tag for element in doc.iter()} == EVERY_ELEMENT  # validity is not for want of content
    cases = {case.get("name"): case for case in doc.iter("testcase")}
    suite_cases = {name: case for name, case in cases.items() if case.get("classname") == "suites.x.yaml"}
    assert {name: (case.get("file"), case.get("line")) for name, case in suite_cases.items()} == {
        "right": ("suites/x.yaml", "4"),
        "wrong": ("suites/x.yaml", "7"),
        "too-big": ("suites/x.yaml", "10"),
    }
    assert cases["right"].find("properties/property[@name='cost_usd']") is not None
    assert cases["too-big"].find("skipped") is not None


def move(doc: etree._ElementTree, what: str, into: str) -> None:
    """Move the first element at XPath ``what`` to the end of the first one at ``into``."""
    doc.xpath(into)[0].append(doc.xpath(what)[0])


MALFORMED: dict[str, Callable[[etree._ElementTree], None]] = {
    "a failure inside properties": lambda doc: move(doc, "//testcase/failure", "//testcase/properties"),
    "properties after the failure": lambda doc: move(doc, "//testcase[failure]/properties", "//testcase[failure]"),
    "a testcase outside a testsuite": lambda doc: move(doc, "//testcase", "/testsuites"),
    "a testcase inside a testcase": lambda doc: move(doc, "//testcase[2]", "//testcase[1]"),
    "a property outside properties": lambda doc: move(doc, "//property", "//testcase[1]"),
    "an element pytest never writes": lambda doc: doc.xpath("//testcase")[0].append(etree.Element("flaky")),
    "a testcase without a name": lambda doc: doc.xpath("//testcase")[0].attrib.pop("name"),
    "a line that is not a number": lambda doc: doc.xpath("//testcase[@line]")[0].set("line", "three"),
    "a testsuite without its test count": lambda doc: doc.xpath("//testsuite")[0].attrib.pop("tests"),
}


def test_the_schema_rejects_a_malformed_file(
    project: Project, schema: etree.XMLSchema, subtests: pytest.Subtests
) -> None:
    valid = junit_of_a_run(project, "xunit2")
    assert schema.validate(valid), schema.error_log
    for name, spoil in MALFORMED.items():
        with subtests.test(name):
            doc = copy.deepcopy(valid)
            spoil(doc)
            assert not schema.validate(doc), f"accepted {name}"
