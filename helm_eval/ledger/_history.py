"""Case history: the judged status of every case of every run, and the cases whose recent runs disagree.

Each run's end records one row per case (``record_outcomes``). A case whose last ``runs`` judged runs on one
branch include both a pass and a failure is *flaky in history*. That is a hint for a reviewer and for a
quarantine list, never a verdict: nothing here can make a failing check pass.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from helm_eval._records import CaseResult
from helm_eval.ledger._store import LABEL_COLUMNS, Ledger

#: how many of a case's most recent judged runs the history looks at unless told otherwise
HISTORY_RUNS = 10
_COLUMNS = ("run_id", "ts", *LABEL_COLUMNS, "suite", "nodeid", "model", "status", "passes", "repeats")


@dataclass(frozen=True, slots=True)
class CaseHistory:
    """One case's recent runs on one branch (newest first), as the ledger recorded them."""

    nodeid: str
    branch: str | None
    statuses: tuple[str, ...]
    """``passed``, ``failed`` or ``error`` per run, newest first (skipped runs are left out)."""
    suite: str | None = None

    @property
    def runs(self) -> int:
        """Judged runs looked at."""
        return len(self.statuses)

    @property
    def failures(self) -> int:
        """Runs in which the case failed or errored."""
        return sum(1 for status in self.statuses if status != "passed")

    @property
    def flaky(self) -> bool:
        """Both passed and failed (or errored) among the runs looked at."""
        return 0 < self.failures < self.runs

    @property
    def evidence(self) -> str:
        """E.g. ``failed 3 of the last 10 runs on main``."""
        where = f" on {self.branch}" if self.branch else ""
        runs = "run" if self.runs == 1 else f"{self.runs} runs"
        return f"failed {self.failures} of the last {runs}{where}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-compatible dict with the counts and the evidence sentence."""
        return {"nodeid": self.nodeid, "branch": self.branch, "runs": self.runs, "failures": self.failures,
                "flaky": self.flaky, "evidence": self.evidence, "statuses": list(self.statuses)}  # fmt: skip


def record_outcomes(ledger: Ledger, run_id: str, labels: Mapping[str, str | None], cases: Iterable[CaseResult]) -> int:
    """Store the status of each case of a finished run; returns the rows written (0 on a read-only ledger)."""
    if ledger.read_only or ledger.version < 2:
        return 0
    now = time.time()
    rows = [
        (run_id, now, *[labels.get(name) or None for name in LABEL_COLUMNS], case.suite or case.file, case.nodeid,
         case.model or None, case.status, case.passes, case.repeats)
        for case in cases
    ]  # fmt: skip
    if not rows:
        return 0
    sql = f"INSERT INTO helm_eval_case_outcomes ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
    with ledger.transaction():
        ledger.execute("DELETE FROM helm_eval_case_outcomes WHERE run_id = ?", (run_id,))  # a run records once
        ledger.executemany(sql, rows)
    return len(rows)


def case_history(
    ledger: Ledger,
    branch: str | None,
    *,
    runs: int = HISTORY_RUNS,
    exclude_run: str | None = None,
    nodeids: Iterable[str] | None = None,
) -> dict[str, CaseHistory]:
    """Each case's last ``runs`` judged runs on ``branch`` (``None``: runs without a branch label), newest first.

    ``exclude_run`` leaves out one run (the run being judged); ``nodeids`` limits the answer to those cases.
    A ledger older than the case history (version 1) has none: the answer is empty.
    """
    if ledger.version < 2 or runs < 1:
        return {}
    where, params = "branch IS ? AND status != 'skipped'", [branch]
    if exclude_run is not None:
        where += " AND run_id != ?"
        params.append(exclude_run)
    if nodeids is not None and not ledger.is_postgres:
        return _histories_of(ledger, branch, where, params, runs, nodeids)
    # each case's newest ``runs`` rows, ranked in the database: a long history is never sent whole
    cursor = ledger.execute(
        "SELECT nodeid, suite, status FROM (SELECT nodeid, suite, status, ROW_NUMBER() OVER (PARTITION BY nodeid "
        f"ORDER BY ts DESC, run_id DESC) AS newest FROM helm_eval_case_outcomes WHERE {where}) AS ranked "
        "WHERE newest <= ? ORDER BY nodeid, newest",
        (*params, runs),
    )
    wanted = set(nodeids) if nodeids is not None else None
    statuses: dict[str, list[str]] = {}
    suites: dict[str, str | None] = {}
    for nodeid, suite, status in cursor.fetchall():
        if wanted is not None and nodeid not in wanted:
            continue
        statuses.setdefault(nodeid, []).append(status)
        suites.setdefault(nodeid, suite)
    return {nodeid: CaseHistory(nodeid, branch, tuple(seen), suites.get(nodeid)) for nodeid, seen in statuses.items()}


def _histories_of(
    ledger: Ledger, branch: str | None, where: str, params: list[Any], runs: int, nodeids: Iterable[str]
) -> dict[str, CaseHistory]:
    """``case_history`` for the given cases on SQLite: one indexed look-up of at most ``runs`` rows per case.

    Ranking every row of the branch (the query for all cases) reads the whole history, which grows with every
    run a persistent ledger keeps; these look-ups cost the same however long it grows.
    """
    if ledger.execute(f"SELECT 1 FROM helm_eval_case_outcomes WHERE {where} LIMIT 1", params).fetchone() is None:
        return {}  # a new ledger, or a branch's first run: one look-up instead of one per case
    sql = (
        f"SELECT suite, status FROM helm_eval_case_outcomes WHERE {where} AND nodeid = ? "
        "ORDER BY ts DESC, run_id DESC LIMIT ?"
    )
    histories: dict[str, CaseHistory] = {}
    for nodeid in dict.fromkeys(nodeids):
        rows = ledger.execute(sql, (*params, nodeid, runs)).fetchall()
        if rows:
            histories[nodeid] = CaseHistory(nodeid, branch, tuple(status for _, status in rows), rows[0][0])
    return histories


def flaky_cases(history: Mapping[str, CaseHistory]) -> list[CaseHistory]:
    """The flaky ones, most failures first, then by node id."""
    return sorted((h for h in history.values() if h.flaky), key=lambda h: (-h.failures, h.nodeid))
