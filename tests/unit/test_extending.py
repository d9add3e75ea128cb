"""A team's own checks: named by import path in a suite (``python:mod:fn``), or registered by entry point."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from helm_eval.checks import REGISTRY
from helm_eval.collect import load_suite
from helm_eval.config import SuiteError
from tests.conftest import Project

CHECKS = """
from helm_eval.checks import CheckInput, CheckOutput, register


def no_profanity(check: CheckInput) -> CheckOutput:
    \"\"\"Output uses none of the listed words (default: darn).\"\"\"
    words = check.value or ["darn"]
    found = [w for w in words if w in check.output.lower()]
    return CheckOutput(not found, f"output contains {found[0]!r}" if found else "output uses none of the words")


@register("shouting", value="none")
def shouting(check: CheckInput) -> CheckOutput:
    \"\"\"Output is all upper case.\"\"\"
    return CheckOutput(check.output.isupper(), "output is upper case" if check.output.isupper() else "output is not")


def says_yes(check: CheckInput) -> bool:
    return True


def two_args(check: CheckInput, extra: int) -> CheckOutput:
    raise AssertionError("never called")


NOT_A_FUNCTION = 42
"""


@pytest.fixture
def local_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A rootdir holding a checks module (a fresh name) that is not on ``sys.path``; path and registry restored."""
    module = f"house_checks_{uuid.uuid4().hex[:12]}"
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(CHECKS), encoding="utf-8")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(REGISTRY, "_types", dict(REGISTRY._types))
    monkeypatch.setattr(REGISTRY, "_python", {})
    return tmp_path, module


def suite_at(root: Path, body: str) -> Path:
    path = root / "suites" / "x.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("prompts: ['{{q}}']\ntests:\n  - id: t\n    vars: {q: hi}\n    assert:\n" + body, encoding="utf-8")
    return path


def test_a_dotted_path_check_is_imported_from_the_rootdir(local_root: tuple[Path, str]) -> None:
    root, module = local_root
    assert str(root) not in sys.path
    path = suite_at(
        root,
        f"      - {{type: 'python:{module}:no_profanity', value: [heck]}}\n      - type: python:{module}:shouting\n",
    )
    (case,) = load_suite(path, "suites/x.yaml")
    assert [a.label for a in case.assertions] == [f"python:{module}:no_profanity", f"python:{module}:shouting"]
    assert str(root) in sys.path


@pytest.mark.parametrize(
    ("type_", "expected"),
    [
        ("python:no_such_module_xyz:fn", "module 'no_such_module_xyz' not found on sys.path or in the rootdir"),
        ("python:{module}:missing", "module '{module}' has no attribute 'missing'"),
        (
            "python:{module}:two_args",
            "{module}:two_args must take one argument (a CheckInput) and return a CheckOutput",
        ),
        ("python:{module}:NOT_A_FUNCTION", "{module}:NOT_A_FUNCTION is a int, not a function"),
        ("python:{module}.no_profanity", "write python:<module>:<function>"),
    ],
)
def test_dotted_path_problems_are_collection_errors_at_the_assertion_line(
    local_root: tuple[Path, str], type_: str, expected: str
) -> None:
    root, module = local_root
    path = suite_at(
        root, "      - {type: contains, value: hi}\n      - {type: '" + type_.format(module=module) + "'}\n"
    )
    with pytest.raises(SuiteError) as info:
        load_suite(path, "suites/x.yaml")
    assert str(info.value).startswith("suites/x.yaml:7: tests[0].assert[1]")
    assert expected.format(module=module) in str(info.value)


def test_a_registered_check_named_by_path_keeps_its_value_rule(local_root: tuple[Path, str]) -> None:
    root, module = local_root
    path = suite_at(root, f"      - {{type: 'python:{module}:shouting', value: 1}}\n")
    with pytest.raises(
        SuiteError, match=rf"x.yaml:6: tests\[0\].assert\[0\]: assertion 'python:{module}:shouting' takes"
    ):
        load_suite(path, "suites/x.yaml")


@pytest.mark.vllm_double(rules=[("rude", "Well darn, fine."), ("polite", "Certainly, here it is.")])
def test_dotted_path_checks_run_in_a_real_session(project: Project) -> None:
    project.file("house_checks.py", CHECKS)
    project.suite(
        "x.yaml",
        """
        prompts: ["{{q}}"]
        tests:
          - id: polite
            vars: {q: polite}
            assert: [{type: "python:house_checks:no_profanity"}]
          - id: rude
            vars: {q: rude}
            assert: [{type: "python:house_checks:no_profanity"}, {type: "not-python:house_checks:shouting"}]
          - id: bad-return
            vars: {q: polite}
            assert: [{type: "python:house_checks:says_yes"}]
        """,
    )
    result = project.run_subprocess()
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "suites/x.yaml:6: rude: failed",
            "  FAIL python:house_checks:no_profanity: output contains 'darn'",
            "  pass not-python:house_checks:shouting: output is not",
        ]
    )
    result.stdout.fnmatch_lines(["*ERROR python:house_checks:says_yes: python:house_checks:says_yes returned bool*"])


ENTRY_POINT_PACKAGE = """
from helm_eval.checks import CheckInput, CheckOutput, register


@register("no-profanity", value="optional")
def no_profanity(check: CheckInput) -> CheckOutput:
    \"\"\"Output uses none of the listed words (default: darn).\"\"\"
    words = check.value or ["darn"]
    found = [w for w in words if w in check.output.lower()]
    return CheckOutput(not found, f"output contains {found[0]!r}" if found else "output uses none of the words")
"""


@pytest.mark.vllm_double(rules=[("rude", "Well darn, fine."), ("polite", "Certainly, here it is.")])
def test_an_installed_entry_point_registers_its_check(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    # an installed distribution as pip leaves it: the package and its .dist-info with entry_points.txt
    site = project.path / "site"
    project.file("site/helm_profanity/__init__.py", ENTRY_POINT_PACKAGE)
    project.file(
        "site/helm_profanity-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: helm-profanity\nVersion: 1.0\n"
    )
    project.file(
        "site/helm_profanity-1.0.dist-info/entry_points.txt", "[helm_eval.checks]\nno-profanity = helm_profanity\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(site))
    project.suite(
        "x.yaml",
        """
        prompts: ["{{q}}"]
        tests:
          - {id: polite, vars: {q: polite}, assert: [{type: no-profanity}]}
          - {id: rude, vars: {q: rude}, assert: [{type: no-profanity, value: [darn, heck]}]}
        """,
    )
    result = project.run_subprocess()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["suites/x.yaml:4: rude: failed", "  FAIL no-profanity: output contains 'darn'"])
