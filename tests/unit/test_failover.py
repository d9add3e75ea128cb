"""Failover with the vLLM-API double on both sides: the primary dies mid-run, every case still finishes.

Each test checks what the user relies on: the endpoint that answered is the one recorded (case, ledger row),
the ledger holds exactly what the servers counted (plus the reservation of each call abandoned in flight, which
the server may have processed), no reservation is left or charged twice, and a fallback's answer is cached
under the model that gave it.
"""

from __future__ import annotations

import sqlite3
import textwrap
import threading
import time
from pathlib import Path

import pytest

from fixtures.vllm_double import VLLMDouble
from helm_eval._records import Call, Case
from helm_eval.collect import load_suite
from helm_eval.dispatch import Dispatcher, Endpoint
from helm_eval.pipeline import BudgetOptions, Pipeline, RunSettings

CASES = 40


def _project(tmp_path: Path, primary: VLLMDouble, backup: VLLMDouble, extra: str = "") -> list[Case]:
    (tmp_path / "suites").mkdir(exist_ok=True)
    tests = "\n".join(
        f"  - {{id: c{i}, vars: {{q: 'question {i}'}}, assert: [{{type: contains, value: question}}]}}"
        for i in range(CASES)
    )
    (tmp_path / "suites" / "a.yaml").write_text(
        f"prompts: ['{{{{q}}}}']\ndefaultTest: {{options: {{max_tokens: 8}}}}\ntests:\n{tests}\n"
    )
    (tmp_path / "helm-eval.yaml").write_text(
        textwrap.dedent(
            f"""
            endpoints:
              primary: {{url: '{primary.base_url}', model: m, max_concurrency: 4, fallback: [backup]}}
              backup: {{url: '{backup.base_url}', model: m-backup}}
            retries: 1
            timeout: 5
            budget:
              run: {{tokens: 100000}}
            """
        )
        + extra
    )
    settings = RunSettings.load(tmp_path)
    return list(load_suite(tmp_path / "suites" / "a.yaml", "suites/a.yaml", settings.config.options))


def _kill_after(double: VLLMDouble, requests: int) -> threading.Thread:
    """Stop ``double`` (dropping what it is processing) once it has received ``requests`` generation requests."""

    def watch() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if sum(1 for r in double.requests if r.path.endswith("/completions")) >= requests:
                double.stop()
                return
            time.sleep(0.002)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def _received(double: VLLMDouble) -> set[str]:
    """Prompts of the generation requests the double received."""
    return {r.body["messages"][0]["content"] for r in double.requests if r.path.endswith("/completions")}


def test_a_primary_killed_mid_run_fails_over_and_the_ledger_equals_what_the_servers_counted(tmp_path: Path) -> None:
    with VLLMDouble("m", latency=0.05, capacity=4) as primary, VLLMDouble("m-backup", latency=0.01) as backup:
        cases = _project(tmp_path, primary, backup)
        watcher = _kill_after(primary, 10)
        with Pipeline(RunSettings.load(tmp_path)) as pipeline:
            results = list(pipeline.evaluate(cases))
            run_id = pipeline.run_id
            dead = pipeline.dead_endpoints()
        watcher.join()
        # the backup never fails: it answered all it received; the primary, what it received and was not re-sent
        by_backup = _received(backup)
        by_primary = _received(primary) - by_backup
        counted = primary.totals.prompt_tokens + primary.totals.completion_tokens
        counted += backup.totals.prompt_tokens + backup.totals.completion_tokens

    assert [r.status for r in results] == ["passed"] * CASES
    assert by_primary
    assert by_backup
    for i, result in enumerate(results):
        answered_by = "primary" if f"question {i}" in by_primary else "backup"
        assert result.endpoint == answered_by, result.nodeid
        assert result.failed_over == (answered_by == "backup")
        assert result.failed_over_from == ("primary" if answered_by == "backup" else None)
        assert result.model == ("m" if answered_by == "primary" else "m-backup")
    assert len(dead) == 1
    assert "'primary'" in dead[0]

    with sqlite3.connect(tmp_path / ".helm-eval" / "ledger.sqlite") as db:
        rows = db.execute(
            "SELECT endpoint, model, status, prompt_tokens + completion_tokens FROM helm_eval_calls WHERE run_id = ?",
            (run_id,),
        ).fetchall()
        left = db.execute("SELECT COUNT(*) FROM helm_eval_reservations WHERE run_id = ?", (run_id,)).fetchone()[0]
    answered = [row for row in rows if row[2] == "ok"]
    assert len(answered) == CASES
    assert {(row[0], row[1]) for row in answered} == {("primary", "m"), ("backup", "m-backup")}
    assert sum(row[3] for row in answered) == counted
    assert sum(1 for row in answered if row[0] == "backup") == len(by_backup)
    # a call that failed on the primary first is one more row there: nothing when its connection was refused, its
    # reservation if it was dropped in flight (the server may have generated; at most its concurrency were)
    failed = [row for row in rows if row[2] != "ok"]
    assert failed
    assert {row[0] for row in failed} == {"primary"}
    assert sum(1 for row in failed if row[3] > 0) <= 4
    assert left == 0


def test_a_fallback_answer_is_cached_under_the_fallback_model(tmp_path: Path) -> None:
    with VLLMDouble("m", latency=0.02, capacity=4) as primary, VLLMDouble("m-backup") as backup:
        cases = _project(tmp_path, primary, backup)
        watcher = _kill_after(primary, 10)
        with Pipeline(RunSettings.load(tmp_path)) as pipeline:
            first = list(pipeline.evaluate(cases))
        watcher.join()
        failed_over = {r.nodeid for r in first if r.failed_over}
        primary.start()
        primary.reset()
        with Pipeline(RunSettings.load(tmp_path)) as pipeline:
            second = list(pipeline.evaluate(cases))
        asked_again = {
            f"suites/a.yaml::c{r.body['messages'][0]['content'].split()[-1]}"
            for r in primary.requests
            if r.path.endswith("/completions")
        }

    assert failed_over
    # the primary's own answers are replayed; what the backup's model said is no answer for the primary's model
    assert asked_again == failed_over
    assert all(r.status == "passed" for r in second)
    assert {r.nodeid for r in second if r.cache_hits} == {r.nodeid for r in first} - failed_over


def test_with_every_endpoint_down_and_on_unavailable_skip_the_cases_are_skipped(tmp_path: Path) -> None:
    with VLLMDouble("m") as primary, VLLMDouble("m-backup") as backup:
        cases = _project(tmp_path, primary, backup, "on_unavailable: skip\n")
        primary.stop()
        backup.stop()
        with Pipeline(RunSettings.load(tmp_path)) as pipeline:
            results = list(pipeline.evaluate(cases[:3]))
            dead = pipeline.dead_endpoints()
    assert [r.status for r in results] == ["skipped"] * 3
    assert all("on_unavailable: skip" in (r.skip_reason or "") for r in results)
    assert all("'primary'" in (r.skip_reason or "") and "'backup'" in (r.skip_reason or "") for r in results)
    assert sorted(line.split("'")[1] for line in dead) == ["backup", "primary"]


def test_under_a_trusted_budget_the_projects_on_unavailable_skip_is_ignored(tmp_path: Path) -> None:
    with VLLMDouble("m") as primary, VLLMDouble("m-backup") as backup:
        cases = _project(tmp_path, primary, backup, "on_unavailable: skip\n")
        settings = RunSettings.load(tmp_path, budget=BudgetOptions(tokens=100000, scope="run"))
        backup.stop()  # the primary's fallback is down from the start; the primary dies after its first answers
        _kill_after(primary, 3)
        with Pipeline(settings) as pipeline:
            results = list(pipeline.evaluate(cases[:12]))
            notices = pipeline.notices
    # a pull request's config must not turn cases no endpoint answered into skips that keep the check green
    assert "error" in {r.status for r in results}
    assert "skipped" not in {r.status for r in results}
    assert any("on_unavailable: skip" in notice for notice in notices)


def test_with_every_endpoint_dying_mid_run_each_case_is_one_clear_error(tmp_path: Path) -> None:
    with VLLMDouble("m", latency=0.02, capacity=2) as primary, VLLMDouble("m-backup", latency=0.02) as backup:
        cases = _project(tmp_path, primary, backup)
        _kill_after(primary, 6).join(timeout=0)
        _kill_after(backup, 6)
        with Pipeline(RunSettings.load(tmp_path)) as pipeline:
            results = list(pipeline.evaluate(cases))
            dead = pipeline.dead_endpoints()
    errors = [r for r in results if r.status == "error"]
    assert errors
    assert {r.status for r in results} <= {"passed", "error"}
    assert all("no endpoint could answer" in (r.error or "") for r in errors)
    assert len(dead) == 2  # named once each, not once per case


def test_the_breaker_probes_the_primary_again_after_the_cool_down() -> None:
    with VLLMDouble("m") as primary, VLLMDouble("m") as backup:
        endpoints = {
            "primary": Endpoint("primary", primary.base_url, "m", None, 4, 5.0, fallback=("backup",)),
            "backup": Endpoint("backup", backup.base_url, "m", None, 4, 5.0),
        }
        dispatcher = Dispatcher(endpoints, retries=0)
        now = [0.0]
        breaker = dispatcher.breakers["primary"]
        breaker.threshold, breaker.cooldown, breaker.clock = 1, 30.0, lambda: now[0]
        call = Call("primary", primary.base_url, "m", ({"role": "user", "content": "hi"},), {"max_tokens": 4})
        try:
            primary.stop()
            down = [dispatcher.submit(call).result(timeout=10) for _ in range(5)]
            primary.start()
            during = [dispatcher.submit(call).result(timeout=10) for _ in range(3)]
            now[0] += 30.0
            after = [dispatcher.submit(call).result(timeout=10) for _ in range(3)]
        finally:
            dispatcher.close()
    assert [o.endpoint for o in down] == ["backup"] * 5
    assert all(o.failed_over_from == "primary" for o in down)
    assert [o.endpoint for o in during] == ["backup"] * 3  # still cooling down: not even tried
    assert [o.endpoint for o in after] == ["primary"] * 3
    assert dispatcher.failed_over == {("primary", "backup"): 8}


@pytest.mark.parametrize("fallback", [["primary"], ["nowhere"], ["backup", "backup"]])
def test_a_bad_fallback_list_is_a_config_error_naming_the_field(tmp_path: Path, fallback: list[str]) -> None:
    from helm_eval.config import ConfigError, load_project_config

    (tmp_path / "helm-eval.yaml").write_text(
        "endpoints:\n"
        f"  primary: {{url: 'http://127.0.0.1:1/v1', fallback: {fallback}}}\n"
        "  backup: {url: 'http://127.0.0.1:2/v1'}\n"
    )
    with pytest.raises(ConfigError, match=r"endpoints\.primary\.fallback"):
        load_project_config(tmp_path / "helm-eval.yaml")


def test_pytest_says_how_many_calls_failed_over_and_junit_names_both_endpoints(pytester: pytest.Pytester) -> None:
    with VLLMDouble("m") as primary, VLLMDouble("m") as backup:
        (pytester.path / "suites").mkdir()
        tests = "\n".join(
            f"  - {{id: c{i}, vars: {{q: 'q {i}'}}, assert: [{{type: contains, value: q}}]}}" for i in range(5)
        )
        (pytester.path / "suites" / "a.yaml").write_text(f"prompts: ['{{{{q}}}}']\ntests:\n{tests}\n")
        (pytester.path / "helm-eval.yaml").write_text(
            f"endpoints:\n  primary: {{url: '{primary.base_url}', model: m, fallback: [backup]}}\n"
            f"  backup: {{url: '{backup.base_url}'}}\n"
        )
        primary.stop()  # down before the run: its calls go to the backup from the start, the run is not refused
        result = pytester.runpytest("-p", "no:cacheprovider", "--helm-eval", "--junitxml=junit.xml",
                                    "--helm-eval-report=run.json")  # fmt: skip
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines(["*5 calls failed over from primary to backup*", "*endpoint 'primary'*went down*"])
    junit = (pytester.path / "junit.xml").read_text()
    assert junit.count('name="endpoint" value="backup"') == 5
    assert junit.count('name="failed_over_from" value="primary"') == 5
    record = (pytester.path / "run.json").read_text()
    assert '"failed_over": 5' in record


def test_the_markdown_report_counts_failed_over_calls_and_names_a_dead_endpoint() -> None:
    from helm_eval._records import CaseResult, RunRecord
    from helm_eval.report import failover_lines
    from helm_eval.report._markdown import render

    cases = [
        CaseResult("a::1", "a.yaml", 1, "passed", endpoint="backup", failed_over=2, failed_over_from="primary"),
        CaseResult("a::2", "a.yaml", 2, "passed", endpoint="backup", failed_over=1, failed_over_from="primary"),
        CaseResult("a::3", "a.yaml", 3, "passed", endpoint="primary"),
    ]
    record = RunRecord(cases, endpoints={"primary": {"url": "u", "model": "m", "down": "refused"}})
    assert failover_lines(record) == ["3 calls failed over from primary to backup"]
    text = render(record)
    assert "3 calls failed over from primary to backup" in text
    assert "endpoint primary went down" in text  # markdown punctuation is escaped: the colon is a reference
