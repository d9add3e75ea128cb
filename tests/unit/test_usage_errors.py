"""Every user mistake or environment failure is one line that names what to fix: never INTERNALERROR."""

from __future__ import annotations

import socket
import sys

import pytest

from tests.conftest import Project

SUITE = """
    prompts: ["{{q}}"]
    tests:
      - {id: one, vars: {q: "2+2"}, assert: [{type: contains, value: "4"}]}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_one_line_usage_error(result: pytest.RunResult, *expected: str) -> None:
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    assert "Traceback" not in output
    lines = [line for line in result.stderr.lines if line.startswith("ERROR: helm-eval:")]
    assert len(lines) == 1, output
    for text in expected:
        assert text in lines[0], lines[0]


def test_a_ledger_url_nobody_answers_names_the_ledger_without_its_password(project: Project) -> None:
    project.suite("a.yaml", SUITE)
    url = f"postgresql://helm:s3cret-pass@127.0.0.1:{free_port()}/ledger"
    result = project.run("--helm-eval-ledger", url)
    assert_one_line_usage_error(result, "cannot open ledger postgresql://helm:***@127.0.0.1")
    assert "s3cret-pass" not in result.stdout.str() + result.stderr.str()


def test_a_ledger_path_that_cannot_be_created(project: Project) -> None:
    project.suite("a.yaml", SUITE)
    project.file("blocker", "a file where a directory must go\n")
    result = project.run("--helm-eval-ledger", "blocker/ledger.sqlite")
    assert_one_line_usage_error(result, "cannot open ledger", "blocker/ledger.sqlite")


def test_a_file_that_is_not_a_ledger(project: Project) -> None:
    project.suite("a.yaml", SUITE)
    project.file("other.sqlite", "not a database at all, just text\n" * 100)
    result = project.run("--helm-eval-ledger", "other.sqlite")
    assert_one_line_usage_error(result, "ledger", "other.sqlite")


def test_postgres_ledger_without_psycopg_names_the_extra(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    project.suite("a.yaml", SUITE)
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra were not installed
    result = project.run("--helm-eval-ledger", "postgresql://u@127.0.0.1:1/x")
    assert_one_line_usage_error(result, "pip install 'helm-eval[postgres]'")


def test_a_run_record_path_that_cannot_be_written_fails_before_anything_is_sent(project: Project) -> None:
    project.suite("a.yaml", SUITE)
    (project.path / "reports").mkdir()
    (project.path / "reports" / "run.json").mkdir()  # a directory where the file must go
    result = project.run("--helm-eval-report", "reports/run.json")
    assert_one_line_usage_error(result, "cannot write the run record to", "run.json", "--helm-eval-report")
    assert project.chat_requests() == []


def test_a_missing_policy(project: Project) -> None:
    project.suite("a.yaml", SUITE)
    result = project.run("--helm-eval-policy", "no-such-policy.yaml")
    assert_one_line_usage_error(result, "policy file not found: no-such-policy.yaml")


def test_a_malformed_policy_names_its_line(project: Project) -> None:
    project.suite("a.yaml", SUITE)
    project.file("policy.yaml", "budget:\n  run: {tokens: lots}\n")
    result = project.run("--helm-eval-policy", "policy.yaml")
    assert_one_line_usage_error(result, "policy.yaml:2", "tokens")


def test_an_unreachable_endpoint_is_one_error_for_the_session(bare_project: Project) -> None:
    bare_project.suite("a.yaml", SUITE)
    result = bare_project.run("--helm-eval-endpoint", f"http://127.0.0.1:{free_port()}/v1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    output = result.stdout.str() + result.stderr.str()
    assert "INTERNALERROR" not in output
    assert output.count("is unreachable") == 1


def test_an_unwritable_cache_warns_once_and_the_run_goes_on(project: Project) -> None:
    project.suite("a.yaml", SUITE.replace('type: contains, value: "4"', 'type: not-contains, value: "zzz"'))
    project.file("helm-eval.yaml", "cache_path: blocker/cache.sqlite\n")
    project.file("blocker", "a file where a directory must go\n")
    result = project.run("--helm-eval-cache", "on", "-W", "default")
    result.assert_outcomes(passed=1)
    output = result.stdout.str()
    assert "INTERNALERROR" not in output
    assert output.count("response cache unavailable") == 1


def test_a_huge_helm_model_prompt_is_refused_before_scanning_or_sending(project: Project) -> None:
    project.file(
        "test_big.py",
        """
        import pytest

        def test_big(helm_model):
            with pytest.raises(ValueError, match="a call may send at most 2,000,000"):
                helm_model("x" * 2_000_001)
        """,
    )
    result = project.run("test_big.py")
    result.assert_outcomes(passed=1)
    assert project.chat_requests() == []
