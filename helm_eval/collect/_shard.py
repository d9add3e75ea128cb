"""Shards: which cases one CI job of a matrix runs (``--helm-eval-shard I/N``).

A case belongs to shard ``sha256(node id) mod N``, so its shard depends on its own id only: adding or removing
other cases never moves it, and every job of the matrix agrees on the split without talking to the others.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

ENV_SHARD = "HELM_EVAL_SHARD"
"""Environment twin of ``--helm-eval-shard``: set by the workflow (``${{ matrix.shard }}/2``), never by a suite."""


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` (1-based) of ``total``."""

    index: int
    total: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"2/4"`` → ``Shard(2, 4)``; ``ValueError`` with the expected form otherwise."""
        index, slash, total = text.strip().partition("/")
        try:
            shard = cls(int(index), int(total))
        except ValueError:
            raise ValueError(f"expects I/N (e.g. 1/2: the first of two shards), got {text!r}") from None
        if not slash or shard.total < 1 or not 1 <= shard.index <= shard.total:
            raise ValueError(f"expects I/N with 1 <= I <= N, got {text!r}")
        return shard

    def holds(self, nodeid: str) -> bool:
        """True when the case or test ``nodeid`` (``suites/x.yaml::case``) is in this shard."""
        if self.total == 1:
            return True
        digest = hashlib.sha256(nodeid.encode("utf-8", "surrogatepass")).digest()
        return int.from_bytes(digest[:8], "big") % self.total == self.index - 1

    def __str__(self) -> str:
        return f"{self.index}/{self.total}"
