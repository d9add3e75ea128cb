"""A ledger writer in its own process, driven by tests/ledger/test_ledger_store.py.

python tests/ledger/_ledger_worker.py admit URL RUN_ID CAP CASES SEED
    print ``ready``, wait for a line on stdin, then admit CASES one-case batches of random size (1..9 tokens)
    against a pull-request token cap of CAP; half the admitted cases are settled at their reservation, half
    stay reserved. Prints one JSON line: admitted and denied sizes, seconds spent in ``admit``.
python tests/ledger/_ledger_worker.py reserve URL RUN_ID TOKENS
    reserve TOKENS and exit without settling (a run that died with a call in flight).
python tests/ledger/_ledger_worker.py churn URL RUN_ID BATCH
    forever: reserve a batch of cases, then record them and release their reservations in one transaction;
    prints ``committed N`` after each commit. Every batch's rows share ``case_id`` prefix ``bN-``.
python tests/ledger/_ledger_worker.py hang URL RUN_ID BATCH
    commit two batches as ``churn`` does, leave BATCH reservations open, then open a write transaction,
    insert half a batch, print ``mid`` and sleep inside the transaction until killed.
"""

from __future__ import annotations

import json
import random
import sys
import time

from helm_eval.ledger import Budget, BudgetPlan, CallNeed, CallRow, Cap, CaseNeed, Denial, Ledger

LABELS: dict[str, str | None] = {"repo": "acme/app", "pr": "42", "team": "search"}


def _need(case_id: str, tokens: int) -> CaseNeed:
    return CaseNeed("suites/s.yaml", case_id, (CallNeed("m", "default", tokens, 0.0),))


def _row(run_id: str, case_id: str, tokens: int) -> CallRow:
    return CallRow(run_id, LABELS, "suites/s.yaml", case_id, "m", "default", tokens, 0, cost_usd=tokens * 1e-6)


def admit(url: str, run_id: str, cap: int, cases: int, seed: int) -> None:
    ledger = Ledger(url)
    budget = Budget(BudgetPlan([Cap("pull_request", "tokens", cap, "test")]), ledger, run_id, LABELS)
    rng = random.Random(seed)
    print("ready", flush=True)
    sys.stdin.readline()
    admitted: list[int] = []
    denied: list[int] = []
    spent = 0.0
    for index in range(cases):
        size = rng.randint(1, 9)
        case_id = f"{run_id}-{index}"
        started = time.perf_counter()
        (verdict,) = budget.admit([_need(case_id, size)])
        spent += time.perf_counter() - started
        if isinstance(verdict, Denial):
            denied.append(size)
            continue
        admitted.append(size)
        if index % 2:
            ledger.record_calls([_row(run_id, case_id, size)], release=verdict)
        time.sleep(0.0005)  # a run does other work between batches; without it one writer can take the lot
    ledger.close()
    print(json.dumps({"admitted": admitted, "denied": denied, "admit_s": spent, "attempts": cases}), flush=True)


def reserve(url: str, run_id: str, tokens: int) -> None:
    ledger = Ledger(url)
    with ledger.transaction():
        ledger.reserve(run_id, LABELS, "suites/s.yaml", "in-flight", "m", "default", tokens, tokens * 1e-6)
    ledger.close()


def _batch(ledger: Ledger, run_id: str, number: int, size: int) -> None:
    with ledger.transaction():
        ids = [
            ledger.reserve(run_id, LABELS, "suites/s.yaml", f"b{number}-{i}", "m", "default", 3, 3e-6)
            for i in range(size)
        ]
    ledger.record_calls([_row(run_id, f"b{number}-{i}", 3) for i in range(size)], release=ids)


def churn(url: str, run_id: str, size: int) -> None:
    ledger = Ledger(url)
    for number in range(1_000_000):
        _batch(ledger, run_id, number, size)
        print(f"committed {(number + 1) * size}", flush=True)


def hang(url: str, run_id: str, size: int) -> None:
    ledger = Ledger(url)
    for number in range(2):
        _batch(ledger, run_id, number, size)
    with ledger.transaction():
        for i in range(size):
            ledger.reserve(run_id, LABELS, "suites/s.yaml", f"open-{i}", "m", "default", 5, 5e-6)
    with ledger.transaction():
        ledger._insert_calls([_row(run_id, f"b2-{i}", 3) for i in range(size // 2)])
        print("mid", flush=True)
        time.sleep(3600)


def main(argv: list[str]) -> None:
    command, url, run_id, *rest = argv
    if command == "admit":
        admit(url, run_id, int(rest[0]), int(rest[1]), int(rest[2]))
    elif command == "reserve":
        reserve(url, run_id, int(rest[0]))
    elif command == "churn":
        churn(url, run_id, int(rest[0]))
    elif command == "hang":
        hang(url, run_id, int(rest[0]))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
