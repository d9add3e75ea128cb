"""The fault-injection tier: dead endpoints, server errors, hangs and SIGTERM against the vLLM double.

Each test asserts that nothing is lost (every case reported, the run record written), that the ledger charges
what the server can have processed and no more, and that the run does not drag on through every retry.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from fixtures.vllm_double import VLLMDouble
from helm_eval.dispatch import DEAD_AFTER

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def suite(root: Path, cases: int, max_tokens: int = 8) -> None:
    (root / "suites").mkdir(exist_ok=True)
    rows = "".join(f'  - {{id: c{i}, vars: {{q: "question {i}"}}}}\n' for i in range(cases))
    (root / "suites" / "a.yaml").write_text(
        f'prompts: ["{{{{q}}}}"]\ndefaultTest: {{options: {{max_tokens: {max_tokens}}}}}\ntests:\n{rows}'
    )


def pytest_cmd(double: VLLMDouble, *args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:deepeval", "--helm-eval",
            f"--helm-eval-endpoint={double.base_url}", "--helm-eval-cache=off", "--helm-eval-report=run.json",
            *args]  # fmt: skip


def ledger_rows(root: Path) -> list[tuple[int, str, int]]:
    with sqlite3.connect(root / ".helm-eval" / "ledger.sqlite") as conn:
        return list(conn.execute("SELECT tokens, status, cache_hit FROM helm_eval_calls"))


def reservations_left(root: Path) -> int:
    with sqlite3.connect(root / ".helm-eval" / "ledger.sqlite") as conn:
        return int(conn.execute("SELECT COUNT(*) FROM helm_eval_reservations").fetchone()[0])


def generation_requests(double: VLLMDouble) -> int:
    return sum(1 for r in double.requests if r.path.endswith("/completions"))


def test_an_endpoint_that_dies_mid_run_ends_the_rest_at_once(tmp_path: Path, vllm_double: VLLMDouble) -> None:
    suite(tmp_path, 60)
    vllm_double.set(faults=["ok"] * 4, fault_rate=1.0, fault_kinds=["503"])  # four answers, then only 503s
    done = subprocess.run(
        pytest_cmd(vllm_double, "--helm-eval-concurrency=1", "--helm-eval-retries=1"),
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 1
    record = json.loads((tmp_path / "run.json").read_text())
    statuses = [c["status"] for c in record["cases"]]
    assert len(statuses) == 60  # nothing lost
    assert statuses.count("passed") == 4
    assert statuses.count("error") == 56
    # eight failed attempts in a row open the breaker; after that nothing reaches the server
    assert generation_requests(vllm_double) == 4 + DEAD_AFTER
    refused = [c for c in record["cases"] if (c["error"] or "").endswith("; not sent")]
    assert len(refused) >= 56 - DEAD_AFTER
    assert done.stdout.count("went down") == 1
    assert f"{len(refused)} calls ended unsent" in done.stdout
    assert "down" in record["endpoints"]["default"]
    # a 503 is an answer: the server generated nothing, so nothing is charged for the failed calls
    assert sum(tokens for tokens, status, _ in ledger_rows(tmp_path) if status == "error") == 0


def test_a_hang_is_charged_its_reservation_and_a_refusal_nothing(tmp_path: Path, vllm_double: VLLMDouble) -> None:
    suite(tmp_path, 2, max_tokens=16)
    vllm_double.set(faults=["hang", "503"])  # the first attempt of one call hangs, of the other gets a 503
    done = subprocess.run(
        pytest_cmd(vllm_double, "--helm-eval-concurrency=1", "--helm-eval-retries=1", "--helm-eval-timeout=1",
                   "--helm-eval-budget-tokens=100000"),
        cwd=tmp_path, capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout
    record = json.loads((tmp_path / "run.json").read_text())
    reported = sum(c["total_tokens"] for c in record["cases"])
    charged = sum(tokens for tokens, _, _ in ledger_rows(tmp_path))
    # the abandoned attempt may have been generated: charged its prompt estimate + max_tokens on top of what the
    # server reported for the answers; the 503 costs nothing
    hung = next(c for c in record["cases"] if c["retries"] == 1 and c["nodeid"].endswith("c0"))
    assert charged == reported + hung["estimated_prompt_tokens"] + 16
    assert reservations_left(tmp_path) == 0


@pytest.mark.vllm_double(latency=3.0)
def test_sigterm_ends_the_run_like_ctrl_c(tmp_path: Path, vllm_double: VLLMDouble) -> None:
    suite(tmp_path, 12)
    proc = subprocess.Popen(
        pytest_cmd(vllm_double, "--helm-eval-concurrency=2", "--helm-eval-budget-tokens=100000"),
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while generation_requests(vllm_double) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "Traceback" not in out
    record = json.loads((tmp_path / "run.json").read_text())  # written, though the run was stopped
    assert record["version"] == 1
    assert reservations_left(tmp_path) == 0  # every reservation settled: nothing held for the next push
    sent = generation_requests(vllm_double)
    assert sent < 12  # queued calls were cancelled, not sent
    rows = ledger_rows(tmp_path)
    # in-flight calls are charged (the server may have generated); nothing that was never sent is
    assert 1 <= len(rows) <= sent


def server_counted(double: VLLMDouble) -> int:
    text = urllib.request.urlopen(double.base_url.removesuffix("/v1") + "/metrics", timeout=10).read().decode()
    names = ("vllm:prompt_tokens_total", "vllm:generation_tokens_total")
    return int(
        sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.split("{")[0].split(" ")[0] in names)
    )


def other_client(double: VLLMDouble) -> None:
    body = json.dumps({"model": "double-model", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 4})
    request = urllib.request.Request(
        double.base_url + "/chat/completions", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(request, timeout=10).read()


def test_a_killed_runs_charge_is_settled_against_the_servers_counters(tmp_path: Path) -> None:
    suite(tmp_path, 4, max_tokens=40)
    with VLLMDouble(latency=3.0) as double:
        killed = subprocess.Popen(
            pytest_cmd(double, "--helm-eval-concurrency=2", "--helm-eval-budget-tokens=100000"),
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while double.num_running < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert double.num_running == 2
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        while double.num_running and time.monotonic() < deadline:  # the server drops what it was given
            time.sleep(0.05)
        double.set(latency=0.0)
        other_client(double)  # someone else's traffic on the shared server: the counter is not the run's alone
        with sqlite3.connect(tmp_path / ".helm-eval" / "ledger.sqlite") as conn:
            (mark,) = conn.execute("SELECT tokens FROM helm_eval_server_marks").fetchone()
            reserved = conn.execute("SELECT COALESCE(SUM(tokens), 0) FROM helm_eval_reservations").fetchone()[0]
        processed = server_counted(double) - mark  # all the server did since the killed run began: an upper bound
        assert 0 < processed < reserved
        subprocess.run(pytest_cmd(double), cwd=tmp_path, capture_output=True, check=False)  # the next run settles
    with sqlite3.connect(tmp_path / ".helm-eval" / "ledger.sqlite") as conn:
        settled = conn.execute("SELECT tokens, status FROM helm_eval_calls WHERE kind = 'unsettled'").fetchall()
    assert len(settled) == 4  # every case was admitted (reserved) before the kill: two in flight, two queued
    assert {status for _, status in settled} == {"reconciled"}
    # charged what the server can have done for it (never more than reserved), not the whole reservation
    assert sum(tokens for tokens, _ in settled) == processed
    assert reservations_left(tmp_path) == 0
