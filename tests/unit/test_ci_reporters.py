"""The CI reporters (markdown, GitHub, GitLab), the merge of sharded run records and the gate, on run records."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from helm_eval import BudgetSummary, CapUse, CaseResult, RunRecord, Verdict
from helm_eval.cli import main
from helm_eval.report import write_run_record
from helm_eval.report._figures import figures, gate
from helm_eval.report._github import annotate, pr_number, publish
from helm_eval.report._gitlab import codequality, dotenv, fingerprint, openmetrics, post_note
from helm_eval.report._markdown import code_block, md_text, mermaid_label, render
from helm_eval.report._merge import merge_records
from tests.ci._support import ADVERSARIAL, FakeApi, assert_markdown_inert, serve_api

HOSTILE = ADVERSARIAL[:2000]


@pytest.fixture
def fake_api() -> Iterator[FakeApi]:
    api = FakeApi()
    server = serve_api(api)
    yield api
    server.shutdown()
    server.server_close()


def case(nodeid: str, status: str = "passed", **fields: Any) -> CaseResult:
    fields.setdefault("line", 3)
    fields.setdefault("repeats", 1)
    fields.setdefault("passes", 1 if status == "passed" else 0)
    return CaseResult(nodeid, nodeid.split("::")[0], status=status, suite=nodeid.split("::")[0], **fields)  # type: ignore[arg-type]


def failing(nodeid: str, output: str = "wrong", **fields: Any) -> CaseResult:
    verdict = Verdict("contains", "fail", f"output does not contain 'x': {output[:80]!r}")
    return case(nodeid, "failed", output=output, verdicts=[verdict], prompt_tokens=10, completion_tokens=5,
                model="m", calls=1, **fields)  # fmt: skip


def tokens_left(remaining: float, cut: int = 0, action: Literal["fail", "warn"] = "fail") -> BudgetSummary:
    cap = CapUse("pull_request", "tokens", 1000, "policy", "pull request 4", used=1000 - remaining, remaining=remaining)
    return BudgetSummary([cap], cut=cut, action=action)


def record(*cases: CaseResult, **fields: Any) -> RunRecord:
    return RunRecord(cases=list(cases), started_at=1.0, finished_at=2.0, **fields)


# -- markdown ----------------------------------------------------------------------------------------------


def test_md_text_cannot_break_a_table_or_inject_html() -> None:
    text = md_text("a | b <script>x</script> @team `c` [l](javascript:x)\nnext ::set-output", 500)
    for bad in ("|", "<", ">", "@", "`", "[", "\n", "::"):
        assert bad not in text
    assert md_text("x" * 50, 10).endswith("&#91;40 more chars&#93;")


def test_code_block_fence_outlasts_any_backtick_run() -> None:
    block = code_block("```\n````\nstill inside\x1b[31m")
    assert block.startswith("`````text\n")
    assert block.endswith("\n`````")
    assert "\x1b" not in block
    assert "<!--" not in code_block("<!-- helm-eval:report -->")


def test_mermaid_labels_are_reduced_to_safe_characters() -> None:
    assert mermaid_label('suites/a "b" :c.yaml') == "suites/a _b_ _c.yaml"


def test_render_is_inert_and_fits_the_limit() -> None:
    cases = [failing(f"suites/s{i % 3}.yaml::case-{i}", HOSTILE * 3, line=i + 1) for i in range(300)]
    cases.append(case("suites/ok.yaml::fine", prompt_tokens=3, completion_tokens=4, model="m", calls=1))
    cap = CapUse("pull_request", "tokens", 1000, "policy", "pull request 4", used=900, remaining=100)
    rec = record(*cases, budget=BudgetSummary([cap], cut=2, action="warn"))
    text = render(rec, limit=60_000, marker="<!-- helm-eval:report -->")
    assert len(text) <= 60_000
    assert text.startswith("<!-- helm-eval:report -->")
    assert text.count("<!-- helm-eval:report -->") == 1
    assert "more failures: see the JUnit report" in text
    assert "### Budget" in text
    assert "Budget exhausted" in text
    assert "pie showData" in text
    assert_markdown_inert(text)


def test_cases_cut_before_any_call_add_no_model_row() -> None:
    ran = case("suites/a.yaml::ran", prompt_tokens=12, completion_tokens=4, model="m", calls=1)
    cut = case("suites/a.yaml::cut", "skipped", skip_reason="budget: tokens budget for pull request 4 exhausted")
    text = render(record(ran, cut, budget=tokens_left(4, cut=1)))
    models = text.split("### Tokens and cost by model", 1)[1].split("###", 1)[0]
    assert "| m | 1 | 12 | 4 | 0 | 16 |" in models
    assert "none" not in models
    assert models.count("\n|") == 3  # header, rule, the one model


# -- GitHub ------------------------------------------------------------------------------------------------


def test_annotations_cap_at_ten_most_important_first_and_stay_one_line() -> None:
    cases = [failing(f"suites/a.yaml::f{i}", HOSTILE, line=i + 10) for i in range(12)]
    cases += [case(f"suites/a.yaml::e{i}", "error", error="HTTP 500", line=i + 40) for i in range(2)]
    cases += [case(f"suites/a.yaml::cut{i}", "skipped", skip_reason="token budget exceeded") for i in range(12)]
    out = io.StringIO()
    counts, left = annotate(record(*cases), out)
    lines = out.getvalue().splitlines()
    assert counts == {"error": 10, "warning": 10}
    assert left == 4 + 2
    assert len(lines) == 20
    assert all(line.startswith(("::error ", "::warning ")) for line in lines)
    assert "file=suites/a.yaml,line=10" in lines[0]  # failures before errors, in file order
    for line in lines:
        message = line.split("::", 2)[2]
        assert "::" not in message
        assert "\n" not in message
        assert "\x1b" not in line


def test_pr_number_comes_from_the_event_payload(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 42}}))
    assert pr_number({"GITHUB_EVENT_PATH": str(event)}) == 42
    event.write_text(json.dumps({"push": {}}))
    assert pr_number({"GITHUB_EVENT_PATH": str(event)}) is None
    assert pr_number({}) is None


def github_env(tmp_path: Path, api: FakeApi) -> dict[str, str]:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 5}}))
    return {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / "out"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "sum"), "GITHUB_EVENT_PATH": str(event),
            "GITHUB_REPOSITORY": "o/r", "GITHUB_API_URL": api.url}  # fmt: skip


def test_publish_creates_the_comment_when_none_has_the_marker(
    tmp_path: Path, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = github_env(tmp_path, fake_api)
    for key, value in env.items():
        monkeypatch.setenv(key, value)  # github-action-utils reads the process environment
    fake_api.existing = [{"id": 1, "body": "unrelated"}]
    out = io.StringIO()
    result = publish(record(failing("suites/a.yaml::x", HOSTILE)), report_path="r.json", comment=True, token="tok",
                     env=env, out=out)  # fmt: skip
    assert result.comment == "created"
    assert [(w.method, w.path) for w in fake_api.writes()] == [("POST", "/repos/o/r/issues/5/comments")]
    assert out.getvalue().startswith("::add-mask::tok\n")
    outputs = (tmp_path / "out").read_text()
    assert "failed<<" in outputs
    assert "pass-rate<<" in outputs
    assert_markdown_inert((tmp_path / "sum").read_text())


def test_publish_without_annotations_still_writes_outputs_and_summary(
    tmp_path: Path, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = github_env(tmp_path, fake_api)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    cut = case("suites/a.yaml::cut", "skipped", skip_reason="budget: tokens budget for pull request 4 exhausted")
    rec = record(failing("suites/a.yaml::x"), cut, budget=tokens_left(4, cut=1))
    quiet, loud = io.StringIO(), io.StringIO()
    result = publish(rec, report_path="r.json", comment=False, token=None, env=env, out=quiet, annotations=False)
    assert result.annotations == {"error": 0, "warning": 0}
    assert "::error" not in quiet.getvalue()
    assert "::warning" not in quiet.getvalue()
    assert "failed<<" in (tmp_path / "out").read_text()
    assert "wrong" in (tmp_path / "sum").read_text()
    assert publish(rec, report_path="r.json", comment=False, token=None, env=env, out=loud).annotations == {
        "error": 1,
        "warning": 2,
    }
    assert "file=suites/a.yaml,line=3::x:" in loud.getvalue()


def test_publish_falls_back_to_the_summary_on_a_read_only_token(
    tmp_path: Path, fake_api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = github_env(tmp_path, fake_api)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    fake_api.deny = True
    result = publish(record(case("suites/a.yaml::ok")), report_path="r.json", comment=True, token="tok", env=env,
                     out=io.StringIO())  # fmt: skip
    assert result.comment.startswith("failed: HTTP 403")
    assert "PR comment not posted" in (tmp_path / "sum").read_text()


def test_publish_off_github_touches_no_github_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without GITHUB_ACTIONS=true (a developer's shell, GitLab), the output and summary variables may still point
    somewhere: publish must not write there, nor anything into the working directory."""
    outputs, summary = tmp_path / "out", tmp_path / "sum"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GITHUB_OUTPUT", str(outputs))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    # publish reads os.environ by default, as `helm-eval report` calls it
    result = publish(record(failing("suites/a.yaml::x")), report_path="r.json", comment=False, token=None,
                     out=io.StringIO())  # fmt: skip
    assert not result.summary_written
    assert not result.outputs_written
    assert not outputs.exists()
    assert not summary.exists()
    assert list(tmp_path.iterdir()) == []


# -- GitLab ------------------------------------------------------------------------------------------------


def test_codequality_issue_per_failing_case_with_stable_fingerprint() -> None:
    rec = record(failing("suites/a.yaml::x", "out\x1b[31m", line=7), case("suites/a.yaml::ok"),
                 case("suites/b.yaml::boom", "error", error="HTTP 503", line=2))  # fmt: skip
    issues = codequality(rec)
    assert [(i["location"]["path"], i["location"]["lines"]["begin"], i["severity"]) for i in issues] == [
        ("suites/a.yaml", 7, "major"),
        ("suites/b.yaml", 2, "critical"),
    ]
    assert issues[0]["fingerprint"] == hashlib.sha256(b"suites/a.yaml::x\0contains").hexdigest()
    assert issues[0]["fingerprint"] == fingerprint("suites/a.yaml::x", "contains")
    assert "\x1b" not in issues[0]["description"]


def test_openmetrics_and_dotenv() -> None:
    rec = record(failing('suites/q"\\.yaml::x'), case("suites/a.yaml::ok", cost_usd=0.5),
                 budget=tokens_left(120))  # fmt: skip
    metrics = openmetrics(rec)
    assert metrics.endswith("# EOF\n")
    assert "helm_eval_pass_rate 0.500000" in metrics
    assert 'suite="suites/q\\"\\\\.yaml"' in metrics
    assert "helm_eval_cost_usd 0.500000" in metrics
    env = dotenv(rec)
    assert "HELM_EVAL_BUDGET_REMAINING=120\n" in env
    assert "HELM_EVAL_COST_USD=0.500000\n" in env
    assert all("=" in line for line in env.splitlines())


def test_mr_note_needs_a_merge_request() -> None:
    assert post_note(record(), "tok", env={}).startswith("skipped")


# -- merge and gate ----------------------------------------------------------------------------------------


def test_merge_records_of_shards() -> None:
    a = RunRecord(cases=[case("s.yaml::1"), failing("s.yaml::2")], labels={"repo": "o/r", "job": "a"},
                  started_at=10, finished_at=20,
                  budget=tokens_left(50, cut=1))  # fmt: skip
    b = RunRecord(cases=[case("s.yaml::2"), case("t.yaml::3")], labels={"repo": "o/r", "job": "b"},
                  started_at=5, finished_at=30,
                  budget=tokens_left(20, cut=2, action="warn"))  # fmt: skip
    merged = merge_records([a, b])
    assert [c.nodeid for c in merged.cases] == ["s.yaml::1", "s.yaml::2", "t.yaml::3"]
    assert merged.cases[1].status == "passed"  # the later shard's result wins
    assert merged.labels == {"repo": "o/r"}
    assert (merged.started_at, merged.finished_at) == (5, 30)
    assert merged.budget is not None
    assert merged.budget.remaining() == (20, "tokens")
    assert merged.budget.cut == 3
    assert merged.budget.exhausted
    assert merged.budget.action == "fail"  # one shard's policy fails the check: the merged check fails
    with pytest.raises(ValueError, match="no run records"):
        merge_records([])


def test_gate() -> None:
    red = record(failing("s.yaml::x"))
    assert gate(red, 1, "failure")[0]
    assert not gate(red, 1, "error")[0]
    assert not gate(red, 1, "never")[0]
    assert gate(record(case("s.yaml::e", "error")), 1, "error")[0]
    assert gate(None, 4, "error") == (True, "no run record (pytest exit status 4)")
    assert gate(record(case("s.yaml::ok")), 2, "failure")[0]
    cut = record(case("s.yaml::ok"), budget=BudgetSummary(cut=1, action="fail"))
    assert gate(cut, 0, "failure")[0]
    assert not gate(cut, 0, "error")[0]
    assert figures(record()).pass_rate is None


def test_cli_report_gitlab_and_gate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "run.json"
    write_run_record(record(failing("suites/a.yaml::x")), path)
    out = tmp_path / "out"
    assert main(["report", str(path), "--gitlab", "--out-dir", str(out), "--fail-on", "failure",
                 "--pytest-status", "1"]) == 1  # fmt: skip
    assert sorted(p.name for p in out.iterdir()) == ["codequality.json", "helm-eval.env", "metrics.txt"]
    assert main(["report", str(tmp_path / "missing.json"), "--fail-on", "never"]) == 0
    assert main(["report", str(tmp_path / "missing.json"), "--fail-on", "error", "--pytest-status", "4"]) == 1
    assert "no run record" in capsys.readouterr().err


def test_publish_writes_where_its_env_says_not_where_os_environ_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(key, raising=False)
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_OUTPUT": str(tmp_path / "out"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "sum"),
    }
    result = publish(record(failing("suites/a.yaml::x", "line one\nfake<<EOF\n")), report_path="r.json",
                     comment=False, token=None, env=env, out=io.StringIO())  # fmt: skip
    assert result.outputs_written
    assert result.summary_written
    outputs = (tmp_path / "out").read_text()
    assert "failed<<ghadelimiter_" in outputs
    assert "## " in (tmp_path / "sum").read_text() or "helm-eval" in (tmp_path / "sum").read_text()
