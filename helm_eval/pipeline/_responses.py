"""The response cache as the pipeline uses it: keys and look-ups at plan time, writes when a call is recorded.

This is the one place that reads or writes cached responses. A hit is found while planning (so it needs no
budget), answered without sending, and recorded as a hit; a successful answer is stored from the recording
thread, never from the dispatch loop. In ``replay-only`` mode a call the cache cannot answer is answered too:
with an error outcome, so nothing is ever sent.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from helm_eval._records import Call, Outcome
from helm_eval.dispatch import Endpoint, ResponseCache, cache_key
from helm_eval.pipeline._redaction import Redactor
from helm_eval.plan import local_weights

REPLAY_MISS = (
    "replay-only: the response cache has no answer for this call, so it was not sent (run once with the cache on)"
)


class Responses:
    """Cache keys, hits found while planning, and writes of fresh answers.

    ``mode``: ``on`` reads and writes, ``refresh`` only writes, ``off`` never touches the file, ``replay-only``
    only reads and answers a miss with an error.

    ``ttl``: seconds a stored answer is served (``None``: forever).
    """

    def __init__(self, mode: str, path: Path, ttl: float | None = None) -> None:
        self.reads = mode in ("on", "replay-only")
        self.replay_only = mode == "replay-only"
        self.cache = None if mode == "off" else ResponseCache(path, ttl)
        self._hits: dict[str, Outcome] = {}
        self._digests: dict[Path, str | None] = {}
        self._weighed: dict[tuple[str, str, str | None], str | None] = {}
        self._lock = threading.Lock()
        self._notes: list[str] = []

    @property
    def enabled(self) -> bool:
        """True unless the cache is off."""
        return self.cache is not None

    def key(self, call: Call, endpoint: Endpoint) -> str | None:
        """The key of ``call``'s answer from the model ``endpoint`` serves; ``None`` with the cache off."""
        if self.cache is None:
            return None
        self._weigh(endpoint, call.model)
        return cache_key(call, endpoint.identity(call.model))

    def look_up(self, calls: Sequence[Call]) -> None:
        """Find the stored answers of keyed ``calls`` at once; ``hit`` then answers them without sending."""
        if self.cache is not None and self.reads:
            wanted = [key for c in calls if (key := c.cache_key) is not None and key not in self._hits]
            self._hits.update(self.cache.get_many(wanted))

    def rekeyed(self, call: Call, endpoint: Endpoint) -> Call:
        """``call`` with the key of the model ``endpoint`` serves (e.g. a fallback's); nothing is looked up."""
        if self.cache is None:
            return call
        return dataclasses.replace(call, cache_key=self.key(call, endpoint))

    def hit(self, call: Call) -> Outcome | None:
        """The answer to ``call`` that needs no sending, or ``None``: send it.

        The stored answer found while planning (a hit); in replay-only mode, for a call the cache has no
        answer for, an error outcome that used no tokens (the call is never sent, the case is an error).
        """
        if call.cache_key is None:
            return None
        stored = self._hits.get(call.cache_key)
        if stored is None and self.replay_only:
            return Outcome("", 0, 0, endpoint=call.endpoint, model=call.model, error=REPLAY_MISS)
        return stored

    def store_all(self, answered: Sequence[tuple[Call, Outcome | None]], keys: Redactor | None = None) -> None:
        """Keep fresh successful answers, in one write (recording thread); errors and hits are never stored.

        Configured API keys are scrubbed from them. A secret a guardrail found stays: a replay must fail the same
        way the call did (the cache file stays in the private ``.helm-eval/`` directory; reports never show it).
        """
        if self.cache is None:
            return
        entries = []
        for call, outcome in answered:
            if outcome is not None and call.cache_key is not None:
                text = keys.scrub(outcome.text) if keys is not None else outcome.text
                entries.append(
                    (call.cache_key, outcome if text == outcome.text else dataclasses.replace(outcome, text=text))
                )
        self.cache.put_many(entries)

    def errors(self) -> list[str]:
        """Read and write failures, as warnings (cache I/O never aborts a run)."""
        return [*self._notes, *(self.cache.errors if self.cache is not None else [])]

    def _weigh(self, endpoint: Endpoint, model: str) -> None:
        """Give ``endpoint`` the digest of ``model``'s weights when a server on this machine loaded a directory.

        Looked at once per server, model and reported path; each directory is digested once per run. A stated
        revision makes it unnecessary. A directory that cannot be read is a warning, and its answers are keyed by
        the path as before.
        """
        if endpoint.revision or model in endpoint.digests:
            return
        seen = (endpoint.base_url, model, endpoint.roots.get(model))
        with self._lock:
            if seen not in self._weighed:
                self._weighed[seen] = self._digest(local_weights(endpoint, model))
            digest = self._weighed[seen]
        if digest is not None:
            endpoint.digests[model] = digest

    def _digest(self, directory: Path | None) -> str | None:
        if directory is None:
            return None
        if directory not in self._digests:
            from helm_eval.serve import weights_digest

            try:
                self._digests[directory] = weights_digest(directory)
            except OSError as exc:
                self._digests[directory] = None
                self._notes.append(
                    f"response cache: cannot digest the weights in {directory} ({exc}); keyed by their path"
                )
        return self._digests[directory]


ENV_RESPONSE_CACHE = "HELM_EVAL_RESPONSE_CACHE"
"""The response cache file, set by a trusted workflow: the project config's ``cache_path`` cannot move it.

The GitHub Action and the GitLab template set it, so a pull request cannot point the run at a cache file of its
own, whose answers would be served for its cases without asking the model (see docs/security.md).
"""


def cache_path(value: str | None, rootdir: Path) -> Path:
    """The cache file: ``$HELM_EVAL_RESPONSE_CACHE``, else ``value``, else ``.helm-eval/cache.sqlite``.

    A relative path is relative to the rootdir.
    """
    path = Path(os.environ.get(ENV_RESPONSE_CACHE) or value or rootdir / ".helm-eval" / "cache.sqlite")
    return path if path.is_absolute() else rootdir / path


def overruled_cache_path(value: str | None) -> list[str]:
    """The notice for a project config whose ``cache_path`` the workflow's ``$HELM_EVAL_RESPONSE_CACHE`` overrules."""
    chosen = os.environ.get(ENV_RESPONSE_CACHE)
    if not chosen or not value or value == chosen:
        return []
    return [f"{ENV_RESPONSE_CACHE} names the response cache: the project config's cache_path ({value!r}) ignored"]
