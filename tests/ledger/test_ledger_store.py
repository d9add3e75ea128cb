"""The ledger store's behaviour, the same on both backends: a SQLite file and a real PostgreSQL server.

Concurrency and crash tests use real processes (tests/ledger/_ledger_worker.py): two writers admitting against
one pull-request cap, and writers killed with SIGKILL in the middle of a write transaction.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helm_eval.config import LedgerError
from helm_eval.ledger import LEDGER_VERSION, Budget, BudgetPlan, CallRow, Cap, Denial, Ledger, Scope
from helm_eval.ledger._budget import CallNeed, CaseNeed

WORKER = Path(__file__).with_name("_ledger_worker.py")
LABELS: dict[str, str | None] = {"repo": "acme/app", "pr": "42", "team": "search"}
PR = Scope("pull_request", "repo IS ? AND pr = ?", ("acme/app", "42"))


def _worker(*args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )


def _row(run_id: str, prompt: int, completion: int, **kw: object) -> CallRow:
    return CallRow(run_id, dict(LABELS), "suites/s.yaml", "c1", "m", "default", prompt, completion, **kw)  # type: ignore[arg-type]


def _count(ledger: Ledger, table: str, where: str = "1=1", params: tuple[object, ...] = ()) -> int:
    return int(ledger.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params).fetchone()[0])


def test_schema_created_with_version(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    assert ledger.execute("SELECT value FROM helm_eval_meta WHERE key = 'version'").fetchone() == (str(LEDGER_VERSION),)
    assert _count(ledger, "helm_eval_calls") == 0
    assert _count(ledger, "helm_eval_reservations") == 0
    ledger.close()
    again = Ledger(ledger_url)  # opening an existing ledger is a no-op migration
    assert _count(again, "helm_eval_meta") == 1
    with again.transaction():
        again.execute("UPDATE helm_eval_meta SET value = ? WHERE key = 'version'", (str(LEDGER_VERSION + 1),))
    again.close()
    with pytest.raises(LedgerError, match="newer than this helm-eval"):
        Ledger(ledger_url)


def test_record_calls_and_used(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    ledger.record_calls(
        [
            _row("r1", 10, 5, cost_usd=0.25, latency_ms=12.5),
            _row("r1", 7, 3, cost_usd=None, kind="judge"),
            CallRow("r2", {"repo": None, "pr": "42"}, None, "c9", "m", "default", 100, 1, cache_hit=True),
        ]
    )
    assert ledger.used(PR) == (25, 0.25)
    assert ledger.used(Scope("run", "run_id = ?", ("r2",))) == (101, 0.0)
    # a missing label matches a missing label (``IS ?``), never a present one
    assert ledger.used(Scope("pull_request", "repo IS ? AND pr = ?", (None, "42"))) == (101, 0.0)
    assert ledger.used(Scope("suite", "run_id = ? AND suite IS ?", ("r2", None)))[0] == 101

    rows = ledger.calls(run_id="r1")
    assert [(r["prompt_tokens"], r["completion_tokens"], r["tokens"], r["kind"]) for r in rows] == [
        (10, 5, 15, "call"),
        (7, 3, 10, "judge"),
    ]
    assert rows[0]["team"] == "search"
    assert rows[0]["latency_ms"] == 12.5
    assert isinstance(rows[0]["id"], int)
    assert len(ledger.calls()) == 3
    assert ledger.calls(since=time.time() + 60) == []

    first = rows[0]["id"]
    ledger.set_run_costs("r1", {first: 1.5})
    ledger.set_run_costs("other-run", {first: 99.0})  # another run's costs never touch these rows
    assert ledger.used(PR) == (25, 1.5)
    ledger.close()


def test_reserve_release_and_settle(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    with ledger.transaction():
        a = ledger.reserve("r1", LABELS, "suites/s.yaml", "c1", "m", "default", 40, 0.4)
        b = ledger.reserve("r1", LABELS, "suites/s.yaml", "c2", "m", "default", 60, 0.6)
    assert a != b
    assert ledger.used(PR) == (100, pytest.approx(1.0))
    ledger.release([a])
    assert ledger.used(PR) == (60, pytest.approx(0.6))
    # the reservation is replaced by what the server reported, in one transaction
    ledger.record_calls([_row("r1", 20, 10, cost_usd=0.3)], release=[b])
    assert ledger.used(PR) == (30, pytest.approx(0.3))
    assert _count(ledger, "helm_eval_reservations") == 0
    ledger.close()


def test_failed_transaction_rolls_back(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)

    def reserve_then_fail() -> None:
        with ledger.transaction():
            ledger.reserve("r1", LABELS, None, "c1", "m", "default", 40, 0.0)
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        reserve_then_fail()
    assert ledger.used(PR) == (0, 0.0)
    with ledger.transaction():  # the connection is usable afterwards
        ledger.reserve("r1", LABELS, None, "c1", "m", "default", 4, 0.0)
    assert ledger.used(PR)[0] == 4
    ledger.close()


def test_reclaim_dead_charges_reservation_in_full(ledger_url: str) -> None:
    with _worker("reserve", ledger_url, "dead-run", 70) as dead:
        assert dead.wait(60) == 0  # its pid is now gone: a run killed with a call in flight
    ledger = Ledger(ledger_url)
    with ledger.transaction():
        ledger.reserve("live-run", LABELS, None, "c2", "m", "default", 30, 0.0)  # this process: alive
    assert ledger.used(PR) == (100, pytest.approx(70e-6))

    assert ledger.reclaim_dead() == 1
    assert ledger.used(PR) == (100, pytest.approx(70e-6))  # nothing is forgotten: the budget stays charged
    (charged,) = ledger.calls(run_id="dead-run")
    assert (charged["kind"], charged["status"], charged["tokens"], charged["prompt_tokens"]) == (
        "unsettled",
        "unsettled",
        70,
        70,
    )
    assert charged["cost_usd"] == pytest.approx(70e-6)
    assert (charged["case_id"], charged["pr"], charged["team"]) == ("in-flight", "42", "search")
    assert _count(ledger, "helm_eval_reservations", "run_id = ?", ("live-run",)) == 1
    assert ledger.reclaim_dead() == 0

    # a reservation older than max_age is reclaimed even when its process lives (another host's lost run)
    assert ledger.reclaim_dead(max_age_s=0) == 1
    assert _count(ledger, "helm_eval_reservations") == 0
    ledger.close()


def test_two_concurrent_writers_never_over_admit(ledger_url: str) -> None:
    """Two processes admit small cases against one pull-request cap: never a token over, filled to one case."""
    cap, cases = 1500, 400  # each writer alone would ask for ~2,000 tokens
    # no ledger yet: the two writers also race to create the schema
    writers = [_worker("admit", ledger_url, f"run-{n}", cap, cases, n) for n in range(2)]
    for writer in writers:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "ready"
    for writer in writers:  # start both at once so their transactions interleave
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    results = []
    for writer in writers:
        with writer:
            out, _ = writer.communicate(timeout=300)
        assert writer.returncode == 0
        results.append(json.loads(out.strip().splitlines()[-1]))

    admitted = sum(sum(r["admitted"]) for r in results)
    ledger = Ledger(ledger_url)
    assert ledger.used(PR)[0] == admitted
    assert admitted <= cap
    # the cap is filled: what is left is smaller than any case that was turned away
    denied = [size for r in results for size in r["denied"]]
    assert denied, "the writers' demand should exceed the cap"
    assert cap - admitted < min(denied)
    assert all(r["admitted"] for r in results), "both writers should get a share"
    backend = "postgres" if ledger.is_postgres else "sqlite"
    per_admit = sum(r["admit_s"] for r in results) / sum(r["attempts"] for r in results)
    shares = " + ".join(f"{sum(r['admitted'])} ({len(r['admitted'])} cases)" for r in results)
    print(f"{backend}: admitted {shares} = {admitted} of cap {cap} tokens; {per_admit * 1000:.2f} ms per admission")
    ledger.close()


def _read_until(process: subprocess.Popen[str], marker: str, timeout: float = 60) -> list[str]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"worker exited before {marker!r}: {lines[-5:]}")
        lines.append(line.strip())
        if line.startswith(marker):
            return lines
    raise AssertionError(f"no {marker!r} within {timeout} s")


def test_sigkill_inside_write_transaction_leaves_ledger_consistent(ledger_url: str) -> None:
    batch = 40
    with _worker("hang", ledger_url, "killed-run", batch) as worker:
        _read_until(worker, "mid")  # two batches committed, 40 reservations open, half a batch uncommitted
        os.kill(worker.pid, signal.SIGKILL)
        assert worker.wait(30) == -signal.SIGKILL

    ledger = Ledger(ledger_url)  # opens as usual: no lock or half-written row is left behind
    assert _count(ledger, "helm_eval_calls") == 2 * batch
    assert _count(ledger, "helm_eval_calls", "case_id LIKE ?", ("b2-%",)) == 0
    assert _count(ledger, "helm_eval_reservations") == batch
    before = ledger.used(PR)
    assert before[0] == 2 * batch * 3 + batch * 5

    assert ledger.reclaim_dead() == batch
    assert _count(ledger, "helm_eval_reservations") == 0
    assert _count(ledger, "helm_eval_calls", "kind = ?", ("unsettled",)) == batch
    assert ledger.used(PR)[0] == before[0]
    ledger.record_calls([_row("next-run", 1, 1)])  # and the next run writes as usual
    assert _count(ledger, "helm_eval_calls") == 3 * batch + 1
    ledger.close()


def test_sigkill_while_churning_keeps_batches_whole(ledger_url: str) -> None:
    batch = 25
    with _worker("churn", ledger_url, "churn-run", batch) as worker:
        lines = _read_until(worker, "committed")
        time.sleep(0.3)  # let it run on; the kill lands wherever it is
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(30)
        assert worker.stdout is not None
        lines += [line.strip() for line in worker.stdout.read().splitlines()]
    reported = max(int(line.split()[1]) for line in lines if line.startswith("committed"))

    ledger = Ledger(ledger_url)
    calls = ledger.calls(run_id="churn-run")
    # every commit the worker reported is there, plus at most the one it committed but had no time to print
    assert reported <= len(calls) <= reported + batch
    per_batch: dict[str, int] = {}
    for call in calls:
        per_batch[call["case_id"].split("-")[0]] = per_batch.get(call["case_id"].split("-")[0], 0) + 1
    assert set(per_batch.values()) == {batch}, "a batch was written in part"
    ledger.reclaim_dead()
    assert _count(ledger, "helm_eval_reservations") == 0
    ledger.close()


def test_budget_admit_in_process_respects_all_caps(ledger_url: str) -> None:
    ledger = Ledger(ledger_url)
    plan = BudgetPlan([Cap("pull_request", "tokens", 100, "policy"), Cap("case", "tokens", 30, "config")])
    budget = Budget(plan, ledger, "r1", LABELS)
    need = CaseNeed("suites/s.yaml", "c1", (CallNeed("m", "default", 20, 0.0), CallNeed("m", "default", 20, 0.0)))
    small = CaseNeed("suites/s.yaml", "c2", (CallNeed("m", "default", 25, 0.0),))
    verdicts = budget.admit([need, small, small, small, small])
    assert isinstance(verdicts[0], Denial)
    assert (verdicts[0].scope, verdicts[0].needed, verdicts[0].used, verdicts[0].limit) == ("case", 40, 0, 30)
    # c2 four times: the case cap (30) admits one 25-token call per case id, within the same batch too
    assert [isinstance(v, Denial) for v in verdicts[1:]] == [False, True, True, True]
    assert ledger.used(PR)[0] == 25
    ledger.close()
