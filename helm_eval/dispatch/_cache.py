"""The response cache: a hit costs no tokens and is reported as a hit.

Key = sha256 of canonical JSON of the model identity (served name plus the best-known identity of the weights:
a revision the config states, else a digest of the weights directory, else the path the server reports; see
``Endpoint.identity``), the messages, every sampling parameter, and the repeat index when sampling is not
deterministic (temperature > 0 without a seed). Stored in one SQLite file CI can persist
(``.helm-eval/cache.sqlite``), each answer with the time it was stored: answers older than the TTL are misses,
and ``prune`` deletes them. Cache I/O never aborts a run: a failed read is a miss, a failed write is counted and
reported.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helm_eval._errors import StorageError
from helm_eval._fs import make_private_dir
from helm_eval._records import Call, Outcome, ToolCall

CACHE_VERSION = 1
"""Version of the key and of the stored answer. The weights identity (revision, digest) changed the value of
``identity``, not the key's shape: keys of servers whose weights are known only by path are unchanged, so
their answers stay valid and are still served."""

_KEYS_PER_QUERY = 500  # well under SQLite's bound on host parameters in one statement
_SIDE_FILES = ("-wal",)  # -shm is a transient index of the log, gone when the last connection closes


# what json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str) builds on each call
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def cache_key(call: Call, identity: str | None) -> str:
    """The key of ``call``'s response; ``identity`` is the endpoint's model identity (None: its URL + model)."""
    params = dict(call.params)
    temperature = params.get("temperature", 1.0)
    deterministic = temperature == 0 or params.get("seed") is not None
    canonical = {
        "v": CACHE_VERSION,
        "model": call.model,
        "identity": identity or call.base_url,
        "messages": call.messages,  # a tuple is a JSON array, as a list is
        "params": params,
        "repeat": None if deterministic else call.repeat_index,
    }
    if call.kind == "embedding":  # the same texts embedded, not answered
        canonical["kind"] = call.kind
    return hashlib.sha256(_CANONICAL.encode(canonical).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class CacheStats:
    """What a cache file holds."""

    entries: int
    """Answers that can still be served (this version of the key)."""
    stale: int
    """Answers stored under another version of the key: never served again; ``prune`` deletes them."""
    size_bytes: int
    """The file with its write-ahead log."""
    oldest: float | None
    newest: float | None
    """When the oldest and newest servable answers were stored (Unix time)."""
    expired: int = 0
    """Of ``entries``, those older than the TTL asked about: misses now, deleted by ``prune``."""


@dataclass(frozen=True, slots=True)
class Pruned:
    """What ``ResponseCache.prune`` removed."""

    entries: int
    bytes_freed: int
    left: CacheStats


class ResponseCache:
    """Key → stored outcome in a SQLite file; safe to use from several threads and processes.

    ``ttl``: seconds an answer is served after it was stored (``None``: forever); an older one is a miss.
    """

    def __init__(self, path: Path, ttl: float | None = None) -> None:
        self.path = path
        self.ttl = ttl
        self._local = threading.local()
        self.errors: list[str] = []
        self.hits = 0
        self.expired = 0
        self.writes = 0

    def _conn(self) -> sqlite3.Connection | None:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            try:
                make_private_dir(self.path.parent)
                conn = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, version INTEGER NOT NULL, "
                    "created REAL NOT NULL, outcome TEXT NOT NULL)"
                )
            except (sqlite3.Error, OSError) as exc:
                self.errors.append(f"response cache unavailable ({self.path}): {exc}")
                return None
            self._local.conn = conn
        return conn

    def get(self, key: str) -> Outcome | None:
        """The cached outcome for ``key`` marked as a hit (no tokens, no latency), or ``None``."""
        return self.get_many([key]).get(key)

    def get_many(self, keys: Sequence[str]) -> dict[str, Outcome]:
        """The cached outcomes of those ``keys`` the file holds (a miss is absent), read in a few queries."""
        conn = self._conn()
        found: dict[str, Outcome] = {}
        if conn is None or not keys:
            return found
        oldest = time.time() - self.ttl if self.ttl is not None else None
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), _KEYS_PER_QUERY):
            chunk = unique[start : start + _KEYS_PER_QUERY]
            try:
                rows = conn.execute(
                    f"SELECT key, outcome, created FROM responses WHERE version = ? "
                    f"AND key IN ({','.join('?' * len(chunk))})",
                    (CACHE_VERSION, *chunk),
                ).fetchall()
            except sqlite3.Error as exc:
                self.errors.append(f"response cache read failed: {exc}")
                return found
            for key, blob, created in rows:
                if oldest is not None and float(created) < oldest:
                    self.expired += 1
                    continue
                try:
                    found[key] = _stored_outcome(json.loads(blob))
                except (ValueError, TypeError, AttributeError) as exc:
                    self.errors.append(f"response cache read failed: {exc}")
        self.hits += len(found)
        return found

    def put(self, key: str, outcome: Outcome) -> None:
        """Store a successful outcome (errors and hits are never stored)."""
        self.put_many([(key, outcome)])

    def put_many(self, entries: Sequence[tuple[str, Outcome]]) -> None:
        """Store the successful outcomes of ``(key, outcome)`` pairs in one transaction."""
        now = time.time()
        rows = [
            (key, CACHE_VERSION, now, json.dumps(_stored_data(outcome), ensure_ascii=False))
            for key, outcome in entries
            if outcome.error is None and not outcome.cache_hit
        ]
        if not rows:
            return
        conn = self._conn()
        if conn is None:
            return
        try:
            with conn:  # one transaction: the write-ahead log is appended and synced once per batch
                conn.execute("BEGIN")
                conn.executemany(
                    "INSERT OR REPLACE INTO responses (key, version, created, outcome) VALUES (?, ?, ?, ?)", rows
                )
            self.writes += len(rows)
        except sqlite3.Error as exc:
            self.errors.append(f"response cache write failed: {exc}")

    def stats(self, ttl: float | None = None) -> CacheStats:
        """Entries, size and age of the file (and how many are older than ``ttl`` seconds).

        Raises ``StorageError`` when the file cannot be read.
        """
        conn = self._conn_or_raise()
        cutoff = time.time() - ttl if ttl is not None else float("-inf")
        try:
            entries, oldest, newest, expired = conn.execute(
                "SELECT COUNT(*), MIN(created), MAX(created), COALESCE(SUM(created < ?), 0) FROM responses "
                "WHERE version = ?",
                (cutoff, CACHE_VERSION),
            ).fetchone()
            (stale,) = conn.execute("SELECT COUNT(*) FROM responses WHERE version != ?", (CACHE_VERSION,)).fetchone()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read the response cache {self.path}: {exc}") from None
        return CacheStats(int(entries), int(stale), self.size_bytes(), oldest, newest, int(expired))

    def prune(self, older_than: float | None, now: float | None = None) -> Pruned:
        """Delete answers stored more than ``older_than`` seconds ago and every stale one, then VACUUM.

        Raises ``StorageError`` when the file cannot be changed (another run holding it, a read-only file).
        """
        conn = self._conn_or_raise()
        before = self.size_bytes()
        cutoff = (time.time() if now is None else now) - older_than if older_than is not None else None
        try:
            if cutoff is None:
                cursor = conn.execute("DELETE FROM responses WHERE version != ?", (CACHE_VERSION,))
            else:
                cursor = conn.execute(
                    "DELETE FROM responses WHERE version != ? OR created < ?", (CACHE_VERSION, cutoff)
                )
            removed = cursor.rowcount
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.execute("VACUUM")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            raise StorageError(f"cannot prune the response cache {self.path}: {exc}") from None
        left = self.stats()
        return Pruned(int(removed), max(before - left.size_bytes, 0), left)

    def size_bytes(self) -> int:
        """Bytes the cache takes on disk: the file and its write-ahead log."""
        total = 0
        for path in (self.path, *(self.path.with_name(self.path.name + side) for side in _SIDE_FILES)):
            with contextlib.suppress(OSError):
                total += path.stat().st_size
        return total

    def _conn_or_raise(self) -> sqlite3.Connection:
        before = len(self.errors)
        conn = self._conn()
        if conn is None:
            raise StorageError(self.errors[before] if len(self.errors) > before else f"cannot open {self.path}")
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


def _stored_outcome(data: dict[str, Any]) -> Outcome:
    """A stored answer as a hit: no tokens, no latency."""
    return Outcome(
        text=str(data.get("text", "")),
        prompt_tokens=0,
        completion_tokens=0,
        latency_ms=0.0,
        endpoint=str(data.get("endpoint", "")),
        model=str(data.get("model", "")),
        finish_reason=data.get("finish_reason"),
        cache_hit=True,
        tool_calls=tuple(ToolCall.from_json(c) for c in data.get("tool_calls") or [] if isinstance(c, dict)),
        embeddings=tuple(tuple(float(x) for x in v) for v in data.get("embeddings") or []),
    )


def _stored_data(outcome: Outcome) -> dict[str, Any]:
    return {
        "text": outcome.text,
        "endpoint": outcome.endpoint,
        "model": outcome.model,
        "finish_reason": outcome.finish_reason,
        "usage": [outcome.prompt_tokens, outcome.completion_tokens],
        "tool_calls": [c.to_json() for c in outcome.tool_calls],
        "embeddings": [list(v) for v in outcome.embeddings],
    }
