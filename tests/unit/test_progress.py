"""The live progress line: drawn on an interactive terminal only, erased before pytest writes, quiet in CI logs."""

from __future__ import annotations

import io
from typing import Any

import pytest

from helm_eval._records import BudgetSummary, CapUse
from helm_eval.run._progress import ProgressLine, wanted

SUITE = """
prompts: ["{{q}}"]
tests:
  - id: a
    vars: {q: one}
    assert: [{type: contains, value: one}]
  - id: b
    vars: {q: two}
    assert: [{type: contains, value: two}]
  - id: c
    vars: {q: three}
    assert: [{type: contains, value: three}]
"""


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_wanted_only_on_an_interactive_terminal_outside_ci() -> None:
    assert wanted(Tty(), 0, {"TERM": "xterm"})
    assert not wanted(io.StringIO(), 0, {})  # a log file or a pipe
    for name in ("CI", "GITHUB_ACTIONS", "GITLAB_CI"):
        assert not wanted(Tty(), 0, {name: "true"}), name
    assert wanted(Tty(), 0, {"CI": "false"})
    assert not wanted(Tty(), -2, {})  # -qq
    assert not wanted(Tty(), 0, {"TERM": "dumb"})


def test_line_counts_tokens_budget_and_eta() -> None:
    now = [100.0]
    cap = CapUse("pull_request", "tokens", 10_000, "policy", "pull request 7", used=2_500, remaining=7_500)
    stream = Tty()
    line = ProgressLine(stream, lambda: BudgetSummary(caps=[cap]), clock=lambda: now[0], width=lambda: 200)
    line.total = 10
    now[0] = 104.0
    line.finished(300)
    line.finished(700)
    assert line.text() == "helm-eval 2/10 · 8 queued · 1,000 tokens · 7,500 tokens left · ETA 16s"
    line.draw(column=12)
    shown = stream.getvalue()
    assert shown == "  [helm-eval 2/10 · 8 queued · 1,000 tokens · 7,500 tokens left · ETA 16s]"
    line.erase()
    assert stream.getvalue() == f"{shown}\x1b[{len(shown)}D\x1b[K"
    line.erase()  # nothing shown: nothing written
    assert stream.getvalue() == f"{shown}\x1b[{len(shown)}D\x1b[K"


def test_line_drops_parts_to_fit_the_terminal_and_follows_wrapped_dots() -> None:
    stream = Tty()
    line = ProgressLine(stream, lambda: None, width=lambda: 60)
    line.total = 3
    line.draw(column=10)
    assert stream.getvalue() == "  [helm-eval 0/3 · 3 queued · 0 tokens]"
    full, shorter = "  [helm-eval 0/3 · 3 queued · 0 tokens]", "  [helm-eval 0/3 · 0 tokens]"
    # a line of dots longer than the terminal wraps: what counts is the column on the last screen row
    for column, shown in ((30, shorter), (40, "  [helm-eval 0/3]"), (130, full), (150, shorter)):
        stream.truncate(0)
        stream.seek(0)
        line.draw(column)
        assert stream.getvalue().split("\x1b[K")[-1] == shown, column
    stream.truncate(0)
    stream.seek(0)
    line.draw(column=50)  # 9 columns left: nothing fits
    assert "[" not in stream.getvalue().split("\x1b[K")[-1]


def test_quiet_when_not_a_tty(project: Any) -> None:
    project.suite("x.yaml", SUITE)
    result = project.run("-p", "no:randomly")
    result.assert_outcomes(passed=3)
    output = result.stdout.str() + result.stderr.str()
    assert "helm-eval 1/3" not in output
    assert "\x1b[" not in output


def test_drawn_after_each_case_and_gone_before_the_summary(project: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import helm_eval.run._hooks as hooks

    monkeypatch.setattr(hooks, "wanted", lambda stream, verbosity: True)
    project.suite("x.yaml", SUITE)
    result = project.run("-p", "no:randomly")
    result.assert_outcomes(passed=3)
    output = result.stdout.str()
    for done in (1, 2, 3):
        assert f"[helm-eval {done}/3 · {3 - done} queued · " in output
    last = output.rindex("[helm-eval 3/3")
    erase = output.index("\x1b[", last)
    assert erase < output.index("helm-eval ====")  # erased before the summary
