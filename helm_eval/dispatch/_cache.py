"""The response cache: a hit costs no tokens and is reported as a hit.

Key = sha256 of canonical JSON of the model identity (served name, plus the weights' path where the server
reports it), the messages, every sampling parameter, and the repeat index when sampling is not deterministic
(temperature > 0 without a seed). Stored in one SQLite file CI can persist (``.helm-eval/cache.sqlite``).
Cache I/O never aborts a run: a failed read is a miss, a failed write is counted and reported.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from helm_eval._fs import make_private_dir
from helm_eval._records import Call, Outcome

CACHE_VERSION = 1


def cache_key(call: Call, identity: str | None) -> str:
    """The key of ``call``'s response; ``identity`` is the endpoint's model identity (None: its URL + model)."""
    params = dict(call.params)
    temperature = params.get("temperature", 1.0)
    deterministic = temperature == 0 or params.get("seed") is not None
    canonical = {
        "v": CACHE_VERSION,
        "model": call.model,
        "identity": identity or call.base_url,
        "messages": list(call.messages),
        "params": params,
        "repeat": None if deterministic else call.repeat_index,
    }
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class ResponseCache:
    """Key → stored outcome in a SQLite file; safe to use from several threads and processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self.errors: list[str] = []
        self.hits = 0
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
        conn = self._conn()
        if conn is None:
            return None
        try:
            row = conn.execute(
                "SELECT outcome FROM responses WHERE key = ? AND version = ?", (key, CACHE_VERSION)
            ).fetchone()
            if row is None:
                return None
            data: dict[str, Any] = json.loads(row[0])
        except (sqlite3.Error, ValueError) as exc:
            self.errors.append(f"response cache read failed: {exc}")
            return None
        self.hits += 1
        return Outcome(
            text=str(data.get("text", "")),
            prompt_tokens=0,
            completion_tokens=0,
            latency_ms=0.0,
            endpoint=str(data.get("endpoint", "")),
            model=str(data.get("model", "")),
            finish_reason=data.get("finish_reason"),
            cache_hit=True,
        )

    def put(self, key: str, outcome: Outcome) -> None:
        """Store a successful outcome (errors and hits are never stored)."""
        if outcome.error is not None or outcome.cache_hit:
            return
        conn = self._conn()
        if conn is None:
            return
        data = {
            "text": outcome.text,
            "endpoint": outcome.endpoint,
            "model": outcome.model,
            "finish_reason": outcome.finish_reason,
            "usage": [outcome.prompt_tokens, outcome.completion_tokens],
        }
        try:
            conn.execute(
                "INSERT OR REPLACE INTO responses (key, version, created, outcome) VALUES (?, ?, ?, ?)",
                (key, CACHE_VERSION, time.time(), json.dumps(data, ensure_ascii=False)),
            )
            self.writes += 1
        except sqlite3.Error as exc:
            self.errors.append(f"response cache write failed: {exc}")

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
