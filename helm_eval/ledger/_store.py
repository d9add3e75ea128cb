"""The ledger: every call with its labels, tokens and cost, plus the budget reservations of calls in flight.

One schema, two backends: a SQLite file (default, ``.helm-eval/ledger.sqlite``; WAL, safe with several writer
processes, consistent after SIGKILL because every change is one transaction) and PostgreSQL for an
organisation's shared ledger (``postgresql://...``). Budget admission runs inside ``transaction()`` so the check
and the reservation are atomic across processes.
"""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helm_eval._errors import HelmEvalError, LedgerError, MissingExtraError
from helm_eval._fs import make_private_dir

LEDGER_VERSION = 2

# key of the transaction-scoped PostgreSQL advisory lock that makes ledger writers take turns (per database)
_PG_LOCK_KEY = 0x68656C6D  # "helm"

LABEL_COLUMNS = ("repo", "pr", "branch", "sha", "workflow", "job", "team")

_SCHEMA = [
    "CREATE TABLE IF NOT EXISTS helm_eval_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS helm_eval_calls (
        id {serial}, run_id TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL,
        repo TEXT, pr TEXT, branch TEXT, sha TEXT, workflow TEXT, job TEXT, team TEXT,
        suite TEXT, case_id TEXT, model TEXT, endpoint TEXT, kind TEXT NOT NULL, cache_hit INTEGER NOT NULL,
        prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, tokens INTEGER NOT NULL,
        cost_usd DOUBLE PRECISION, latency_ms DOUBLE PRECISION, status TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS helm_eval_calls_pr ON helm_eval_calls (repo, pr)",
    "CREATE INDEX IF NOT EXISTS helm_eval_calls_run ON helm_eval_calls (run_id)",
    "CREATE INDEX IF NOT EXISTS helm_eval_calls_ts ON helm_eval_calls (ts)",
    """CREATE TABLE IF NOT EXISTS helm_eval_reservations (
        id {serial}, run_id TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL, ts DOUBLE PRECISION NOT NULL,
        repo TEXT, pr TEXT, branch TEXT, sha TEXT, workflow TEXT, job TEXT, team TEXT,
        suite TEXT, case_id TEXT, model TEXT, endpoint TEXT, tokens INTEGER NOT NULL, usd DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS helm_eval_reservations_run ON helm_eval_reservations (run_id)",
    # what each endpoint's server had counted (vLLM's /metrics) when a run started: bounds a killed run's charge
    """CREATE TABLE IF NOT EXISTS helm_eval_server_marks (
        run_id TEXT NOT NULL, endpoint TEXT NOT NULL, url TEXT NOT NULL, tokens BIGINT NOT NULL,
        ts DOUBLE PRECISION NOT NULL)""",
]

#: what each version adds to the one before it, applied in order to an older ledger (and to a new one after
#: ``_SCHEMA``, which is version 1); each step runs in the migration's one transaction
_MIGRATIONS: dict[int, list[str]] = {
    # the judged status of every case of every run: flaky cases from history (``helm-eval flaky``)
    2: [
        """CREATE TABLE IF NOT EXISTS helm_eval_case_outcomes (
            run_id TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL,
            repo TEXT, pr TEXT, branch TEXT, sha TEXT, workflow TEXT, job TEXT, team TEXT,
            suite TEXT, nodeid TEXT NOT NULL, model TEXT, status TEXT NOT NULL,
            passes INTEGER NOT NULL, repeats INTEGER NOT NULL)""",
        "CREATE INDEX IF NOT EXISTS helm_eval_case_outcomes_branch ON helm_eval_case_outcomes (branch, nodeid, ts)",
        "CREATE INDEX IF NOT EXISTS helm_eval_case_outcomes_run ON helm_eval_case_outcomes (run_id)",
    ],
}


@dataclass(slots=True)
class CallRow:
    """One call as the ledger stores it."""

    run_id: str
    labels: dict[str, str | None]
    suite: str | None
    case_id: str | None
    model: str
    endpoint: str
    prompt_tokens: int
    completion_tokens: int
    kind: str = "call"
    """``call`` (system under test), ``judge``, or ``unsettled`` (a reservation whose run died: charged in full)."""
    cache_hit: bool = False
    cost_usd: float | None = None
    latency_ms: float | None = None
    status: str = "ok"
    ts: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class Scope:
    """A budget scope as a filter over calls and reservations."""

    name: str
    """``run``, ``pull_request``, ``suite`` or ``case``."""
    where: str
    params: tuple[Any, ...]


class Ledger:
    """A connection to the ledger store; one per thread (SQLite connections are not shared across threads)."""

    def __init__(self, url: str, *, read_only: bool = False) -> None:
        """Open (creating the schema if needed) the ledger at ``url``.

        ``read_only=True`` (``helm-eval cost``) creates nothing: a missing SQLite file raises
        ``FileNotFoundError``, a store without the schema ``RuntimeError``, and writes are refused.
        """
        self.url = url
        self.is_postgres = url.startswith(("postgresql://", "postgres://"))
        self.read_only = read_only
        self.version = LEDGER_VERSION
        """The store's schema version (an older ledger opened read-only keeps its own and has fewer tables)."""
        self._ph = "%s" if self.is_postgres else "?"
        try:
            self._conn: Any = self._connect()
        except (HelmEvalError, FileNotFoundError):
            raise
        except ImportError:
            raise MissingExtraError("a PostgreSQL ledger", "postgres", "psycopg") from None
        except Exception as exc:  # sqlite3 / psycopg / OS errors: one line naming the ledger
            raise LedgerError(f"cannot open ledger {redact(url)}: {_one_line(exc)}") from None
        try:
            if read_only:
                self._check_version()
            else:
                self._migrate()
        except HelmEvalError:
            self._conn.close()  # a ledger that cannot be used must not leave a connection (and its locks) open
            raise
        except Exception as exc:
            self._conn.close()
            raise LedgerError(f"cannot use ledger {redact(url)}: {_one_line(exc)}") from None

    # -- connection --------------------------------------------------------------------------------------

    def _connect(self) -> Any:
        if self.is_postgres:
            import psycopg

            options = "-c default_transaction_read_only=on" if self.read_only else ""
            return psycopg.connect(self.url, autocommit=True, options=options)
        path = Path(self.url.removeprefix("sqlite:///").removeprefix("sqlite://"))
        if self.read_only:
            if not path.is_file():
                raise FileNotFoundError(f"no ledger at {path}")
            uri = f"{path.resolve().as_uri()}?mode=ro"
            conn = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=30000")
            return conn
        make_private_dir(path.parent)
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _migrate(self) -> None:
        serial = "BIGSERIAL PRIMARY KEY" if self.is_postgres else "INTEGER PRIMARY KEY AUTOINCREMENT"
        with self.transaction():
            for statement in _SCHEMA:
                self.execute(statement.format(serial=serial))
            row = self.execute("SELECT value FROM helm_eval_meta WHERE key = 'version'").fetchone()
            found = 1 if row is None else int(row[0])
            if found > LEDGER_VERSION:
                raise LedgerError(
                    f"ledger {redact(self.url)} has version {row[0]}, newer than this helm-eval ({LEDGER_VERSION})"
                )
            for version in range(found + 1, LEDGER_VERSION + 1):
                for statement in _MIGRATIONS[version]:
                    self.execute(statement)
            if row is None:
                self.execute("INSERT INTO helm_eval_meta (key, value) VALUES (?, ?)", ("version", str(LEDGER_VERSION)))
            elif found < LEDGER_VERSION:
                self.execute("UPDATE helm_eval_meta SET value = ? WHERE key = 'version'", (str(LEDGER_VERSION),))
            self.version = LEDGER_VERSION

    def _check_version(self) -> None:
        try:
            row = self.execute("SELECT value FROM helm_eval_meta WHERE key = 'version'").fetchone()
        except Exception:
            raise LedgerError(f"{redact(self.url)} is not a helm-eval ledger (no helm_eval_meta table)") from None
        if row is None or int(row[0]) > LEDGER_VERSION:
            found = "no version" if row is None else f"version {row[0]}"
            raise LedgerError(f"ledger {redact(self.url)} has {found}; this helm-eval reads version {LEDGER_VERSION}")
        self.version = int(row[0])

    def close(self) -> None:
        """Close the connection."""
        self._conn.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Run one statement (``?`` placeholders on both backends)."""
        if self.is_postgres:
            sql = sql.replace(" IS ?", " IS NOT DISTINCT FROM ?").replace("?", "%s")
        return self._conn.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each parameter row: one round trip per batch on PostgreSQL, not one per row."""
        if self.is_postgres:
            sql = sql.replace(" IS ?", " IS NOT DISTINCT FROM ?").replace("?", "%s")
            with self._conn.cursor() as cursor:
                cursor.executemany(sql, [tuple(row) for row in rows])
            return
        self._conn.executemany(sql, [tuple(row) for row in rows])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """An exclusive write transaction: budget checks and reservations inside it are atomic across processes."""
        if self.is_postgres:
            with self._conn.transaction():
                # an advisory lock, not LOCK TABLE: it also serialises the first migration, before the tables exist
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))
                yield
            return
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- writes ------------------------------------------------------------------------------------------

    def record_calls(self, rows: Sequence[CallRow], release: Sequence[int] = ()) -> None:
        """Insert calls and delete their reservations in one transaction."""
        if not rows and not release:
            return
        with self.transaction():
            self._insert_calls(rows)
            for reservation_id in release:
                self.execute("DELETE FROM helm_eval_reservations WHERE id = ?", (reservation_id,))

    def _insert_calls(self, rows: Sequence[CallRow]) -> None:
        columns = ("run_id", "ts", *LABEL_COLUMNS, "suite", "case_id", "model", "endpoint", "kind", "cache_hit",
                   "prompt_tokens", "completion_tokens", "tokens", "cost_usd", "latency_ms", "status")  # fmt: skip
        sql = f"INSERT INTO helm_eval_calls ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        values = [
            (row.run_id, row.ts, *[row.labels.get(name) for name in LABEL_COLUMNS], row.suite, row.case_id,
             row.model, row.endpoint, row.kind, int(row.cache_hit), row.prompt_tokens, row.completion_tokens,
             row.prompt_tokens + row.completion_tokens, row.cost_usd, row.latency_ms, row.status)
            for row in rows
        ]  # fmt: skip
        if values:
            self.executemany(sql, values)

    def reserve(self, run_id: str, labels: dict[str, str | None], suite: str | None, case_id: str | None,
                model: str, endpoint: str, tokens: int, usd: float) -> int:  # fmt: skip
        """Insert a reservation (call inside ``transaction()`` after checking the limits); returns its id."""
        columns = (
            "run_id",
            "host",
            "pid",
            "ts",
            *LABEL_COLUMNS,
            "suite",
            "case_id",
            "model",
            "endpoint",
            "tokens",
            "usd",
        )
        labelled = [labels.get(name) for name in LABEL_COLUMNS]
        values = (run_id, socket.gethostname(), os.getpid(), time.time(), *labelled, suite, case_id, model, endpoint,
                  tokens, usd)  # fmt: skip
        sql = f"INSERT INTO helm_eval_reservations ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        if self.is_postgres:
            return int(self.execute(sql + " RETURNING id", values).fetchone()[0])
        return int(self.execute(sql, values).lastrowid)

    def release(self, reservation_ids: Sequence[int]) -> None:
        """Drop reservations of calls that were never sent."""
        if reservation_ids:
            with self.transaction():
                for reservation_id in reservation_ids:
                    self.execute("DELETE FROM helm_eval_reservations WHERE id = ?", (reservation_id,))

    def reclaim_dead(
        self, max_age_s: float = 6 * 3600, server_tokens: Mapping[str, tuple[str, int]] | None = None
    ) -> int:
        """Turn reservations of runs that died (process gone on this host, or too old) into charged calls.

        A call in flight when its run was killed may have been served: it is charged at its full reservation,
        so a crash can never let a budget be exceeded. Where the dead run marked what its endpoint's server had
        counted when it started, and ``server_tokens`` (endpoint name → (url, tokens counted now)) says what the
        same server counts now, the charge is bounded by what the server can have processed for it since: the
        growth of the counter less what the run itself recorded from the server's usage. The counter is the
        server's, shared with every other client, so the bound is never below the dead run's real use.
        """
        host = socket.gethostname()
        reclaimed = 0
        with self.transaction():
            rows = self.execute(
                "SELECT id, run_id, host, pid, ts, repo, pr, branch, sha, workflow, job, team, suite, case_id, model, "
                "endpoint, tokens, usd FROM helm_eval_reservations ORDER BY id"
            ).fetchall()
            now = time.time()
            room: dict[tuple[str, str], int | None] = {}
            for row in rows:
                rid, run_id, rhost, pid, ts = row[0], row[1], row[2], row[3], row[4]
                too_old = now - ts >= max_age_s
                dead = too_old or (rhost == host and not _pid_alive(pid))
                if not dead:
                    continue
                endpoint = row[15] or ""
                key = (run_id, endpoint)
                if key not in room:
                    room[key] = self._server_room(run_id, endpoint, server_tokens)
                tokens, status = row[16], "unsettled"
                left = room[key]
                if left is not None:
                    charged = min(tokens, left)
                    room[key] = left - charged
                    tokens, status = charged, "reconciled"
                usd = row[17] * tokens / row[16] if row[16] else row[17]
                labels = dict(zip(LABEL_COLUMNS, row[5:12], strict=True))
                self._insert_calls(
                    [CallRow(run_id, labels, row[12], row[13], row[14] or "", endpoint, tokens, 0,
                             kind="unsettled", cost_usd=usd, status=status, ts=ts)]
                )  # fmt: skip
                self.execute("DELETE FROM helm_eval_reservations WHERE id = ?", (rid,))
                reclaimed += 1
        return reclaimed

    def _server_room(
        self, run_id: str, endpoint: str, server_tokens: Mapping[str, tuple[str, int]] | None
    ) -> int | None:
        """Tokens the server can have processed for ``run_id`` beyond what the run recorded; ``None``: unknown."""
        if not server_tokens or endpoint not in server_tokens:
            return None
        url, now = server_tokens[endpoint]
        mark = self.execute(
            "SELECT tokens FROM helm_eval_server_marks WHERE run_id = ? AND endpoint = ? AND url = ?",
            (run_id, endpoint, url),
        ).fetchone()
        if mark is None or now < int(mark[0]):  # no mark, or the server restarted and its counters with it
            return None
        recorded = self.execute(
            "SELECT COALESCE(SUM(tokens), 0) FROM helm_eval_calls WHERE run_id = ? AND endpoint = ? AND status = 'ok'"
            " AND cache_hit = 0",
            (run_id, endpoint),
        ).fetchone()
        return max(0, now - int(mark[0]) - int(recorded[0]))

    def mark_server(self, run_id: str, endpoint: str, url: str, tokens: int) -> None:
        """Remember what ``endpoint``'s server had counted when ``run_id`` started (see ``reclaim_dead``)."""
        with self.transaction():
            self.execute(
                "INSERT INTO helm_eval_server_marks (run_id, endpoint, url, tokens, ts) VALUES (?, ?, ?, ?, ?)",
                (run_id, endpoint, url, tokens, time.time()),
            )

    # -- reads -------------------------------------------------------------------------------------------

    def used(self, scope: Scope) -> tuple[int, float]:
        """Tokens and USD charged plus reserved within ``scope``."""
        spent = self.execute(
            f"SELECT COALESCE(SUM(tokens), 0), COALESCE(SUM(cost_usd), 0) FROM helm_eval_calls WHERE {scope.where}",
            scope.params,
        ).fetchone()
        held = self.execute(
            f"SELECT COALESCE(SUM(tokens), 0), COALESCE(SUM(usd), 0) FROM helm_eval_reservations WHERE {scope.where}",
            scope.params,
        ).fetchone()
        return int(spent[0]) + int(held[0]), float(spent[1]) + float(held[1])

    def calls(self, since: float | None = None, run_id: str | None = None) -> list[dict[str, Any]]:
        """Call rows as dicts (for ``helm-eval cost``), newest last."""
        where: list[str] = ["1=1"]
        params: list[Any] = []
        if since is not None:
            where.append("ts >= ?")
            params.append(since)
        if run_id is not None:
            where.append("run_id = ?")
            params.append(run_id)
        cursor = self.execute(f"SELECT * FROM helm_eval_calls WHERE {' AND '.join(where)} ORDER BY ts, id", params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def set_run_costs(self, run_id: str, costs: dict[int, float]) -> None:
        """Write per-call costs computed at the end of a run (GPU-hour pricing)."""
        with self.transaction():
            for call_id, cost in costs.items():
                self.execute(
                    "UPDATE helm_eval_calls SET cost_usd = ? WHERE id = ? AND run_id = ?", (cost, call_id, run_id)
                )


def redact(url: str) -> str:
    """``url`` fit for a log: the password of a ``postgresql://user:password@host/db`` URL replaced by ``***``."""
    return re.sub(r"^(postgres(?:ql)?://[^:/@]*:)[^/]*@", r"\1***@", url)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]
