"""A team's ``python:`` check that exits or raises KeyboardInterrupt: an error verdict in one line, not a crash."""

from __future__ import annotations

import signal
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from helm_eval._records import Assertion
from helm_eval.checks import run_check
from tests.conftest import Project

CHECKS = """
import os
import signal
import sys
import time

from helm_eval.checks import CheckInput, CheckOutput


def exits(check: CheckInput) -> CheckOutput:
    sys.exit(3)


def exits_with_text(check: CheckInput) -> CheckOutput:
    raise SystemExit("config missing:\\nsee the docs")


def interrupts(check: CheckInput) -> CheckOutput:
    raise KeyboardInterrupt


def ctrl_c(check: CheckInput) -> CheckOutput:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(5)
    return CheckOutput(True, "not interrupted")


def fine(check: CheckInput) -> CheckOutput:
    return CheckOutput(True, "fine")
"""


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"hostile_checks_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(CHECKS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield name
    sys.modules.pop(name, None)


@pytest.fixture
def real_ctrl_c() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt, as in a terminal (a background job may have it ignored)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize(
    ("function", "reason"),
    [
        ("exits", "{ref} raised SystemExit: 3"),
        ("exits_with_text", "{ref} raised SystemExit: config missing: see the docs"),
        ("interrupts", "{ref} raised KeyboardInterrupt"),
    ],
)
def test_a_check_that_exits_or_interrupts_is_an_error_verdict(
    module: str, real_ctrl_c: None, function: str, reason: str
) -> None:
    ref = f"python:{module}:{function}"
    verdict = run_check(Assertion(ref), "some output")
    assert verdict.status == "error"
    assert verdict.reason == reason.format(ref=ref)


def test_a_real_ctrl_c_during_a_check_still_stops_the_run(module: str, real_ctrl_c: None) -> None:
    started = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        run_check(Assertion(f"python:{module}:ctrl_c"), "some output")
    assert time.perf_counter() - started < 4
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert run_check(Assertion(f"python:{module}:fine"), "x").status == "pass"


def test_exiting_checks_in_a_session_are_errors_and_the_session_goes_on(project: Project) -> None:
    project.file("house_checks.py", CHECKS)
    project.suite(
        "x.yaml",
        """
        prompts: ["{{q}}"]
        tests:
          - {id: exits, vars: {q: a}, assert: [{type: "python:house_checks:exits"}]}
          - {id: interrupts, vars: {q: b}, assert: [{type: "python:house_checks:interrupts"}]}
          - {id: fine, vars: {q: c}, assert: [{type: "python:house_checks:fine"}]}
        """,
    )
    result = project.run_subprocess("--junitxml", "j.xml")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines_random(
        [
            "*ERROR python:house_checks:exits: python:house_checks:exits raised SystemExit: 3*",
            "*ERROR python:house_checks:interrupts: python:house_checks:interrupts raised KeyboardInterrupt*",
        ]
    )
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    assert "KeyboardInterrupt !" not in output  # pytest's banner for an interrupted session
    assert len(result.stdout.lines) < 60
    assert (project.path / "j.xml").is_file()
