"""A real vLLM as primary, SIGKILLed in the middle of a run; the vLLM-API double as its fallback.

The test starts its own short-lived vLLM (the session's shared server must stay up for the other tests). The run
has two halves in one pipeline: the first is answered by the primary while it is up, which is then idle, so its
``/metrics`` counters are compared with the ledger exactly; the second is sent, and the primary is killed while
it has calls running. Every case must finish, each with the endpoint and model that answered, and the ledger
must hold what each server counted.
"""

from __future__ import annotations

import os
import signal
import textwrap
import threading
import time
from pathlib import Path

from fixtures.vllm_double import VLLMDouble
from helm_eval.collect import load_suite
from helm_eval.pipeline import Pipeline, RunSettings
from helm_eval.serve import VLLMServer
from tests.integration._vllm import metrics

FIRST, SECOND = 6, 12


def _tokens(counters: dict[str, float]) -> int:
    return int(counters.get("vllm:prompt_tokens_total", 0) + counters.get("vllm:generation_tokens_total", 0))


def test_a_real_primary_killed_mid_run_fails_over_to_the_double(
    vllm_python: str, model_dir: Path, tmp_path: Path
) -> None:
    (tmp_path / "suites").mkdir()
    tests = "\n".join(
        f"  - {{id: c{i}, vars: {{q: 'What is {i} plus {i}?'}}, assert: [{{type: not-contains, value: zzqx}}]}}"
        for i in range(FIRST + SECOND)
    )
    (tmp_path / "suites" / "a.yaml").write_text(
        f"prompts: ['{{{{q}}}}']\ndefaultTest: {{options: {{max_tokens: 8, temperature: 0}}}}\ntests:\n{tests}\n"
    )
    server = VLLMServer(model_dir, served_model_name="smollm2", python=vllm_python, log_path=tmp_path / "vllm.log")
    server.start()
    try:
        server.wait_ready()
        with VLLMDouble("backup-model", latency=0.02) as backup:
            (tmp_path / "helm-eval.yaml").write_text(
                textwrap.dedent(
                    f"""
                    endpoints:
                      primary: {{url: '{server.base_url}', model: smollm2, max_concurrency: 4, fallback: [backup]}}
                      backup: {{url: '{backup.base_url}', model: backup-model}}
                    retries: 1
                    timeout: 60
                    budget:
                      run: {{tokens: 100000}}
                    """
                )
            )
            settings = RunSettings.load(tmp_path)
            cases = load_suite(tmp_path / "suites" / "a.yaml", "suites/a.yaml", settings.config.options)
            before = _tokens(metrics(server))
            with Pipeline(settings) as pipeline:
                first = list(pipeline.evaluate(cases[:FIRST]))
                counted_primary = _tokens(metrics(server)) - before  # idle now: exact
                killed = threading.Event()

                def kill_when_busy() -> None:
                    deadline = time.monotonic() + 120
                    while time.monotonic() < deadline:
                        if metrics(server).get("vllm:num_requests_running", 0) >= 1:
                            break
                        time.sleep(0.02)
                    assert server.pid is not None
                    os.killpg(server.pid, signal.SIGKILL)
                    killed.set()

                killer = threading.Thread(target=kill_when_busy, daemon=True)
                killer.start()
                second = list(pipeline.evaluate(cases[FIRST:]))
                killer.join(timeout=130)
            rows = pipeline.ledger.calls(run_id=pipeline.run_id)  # after close: every row written
            backup_counted = backup.totals.prompt_tokens + backup.totals.completion_tokens
            backup_received = sum(1 for r in backup.requests if r.path.endswith("/completions"))
    finally:
        server.stop()

    assert killed.is_set()
    assert [r.status for r in first + second] == ["passed"] * (FIRST + SECOND)
    assert all(r.endpoint == "primary" and r.model == "smollm2" and not r.failed_over for r in first)
    by_backup = [r for r in second if r.endpoint == "backup"]
    assert by_backup  # the kill happened with calls still to send
    assert all(r.model == "backup-model" and r.failed_over_from == "primary" for r in by_backup)
    assert all(r.model == "smollm2" for r in second if r.endpoint == "primary")

    answered = [row for row in rows if row["status"] == "ok"]
    assert len(answered) == FIRST + SECOND
    first_rows = answered[:FIRST]  # rows are in time order; the first half finished before anything else was sent
    assert sum(row["tokens"] for row in first_rows) == counted_primary
    assert sum(row["tokens"] for row in answered if row["endpoint"] == "backup") == backup_counted
    assert sum(1 for row in answered if row["endpoint"] == "backup") == backup_received == len(by_backup)
    failed = [row for row in rows if row["status"] != "ok"]
    assert {row["endpoint"] for row in failed} <= {"primary"}
