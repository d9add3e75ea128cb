"""Recording calls as they finish, off the dispatch loop: a writer thread with its own ledger connection.

An ``also`` callback runs for each batch of finished calls on the same thread (the pipeline stores fresh answers
in the response cache there, one transaction a batch), so neither costs the dispatch loop any I/O.

The dispatch loop only puts finished calls on a queue; the writer inserts them in batches, each batch one
transaction that also drops the calls' reservations. Calls cancelled before they were sent just release theirs.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from helm_eval._records import Call, Outcome
from helm_eval.ledger._store import CallRow, Ledger

_STOP = object()


@dataclass(slots=True)
class Finished:
    """A call that ended: its outcome (``None`` when cancelled) and whether it reached the server."""

    call: Call
    outcome: Outcome | None
    sent: bool
    started: float
    ended: float


class LedgerWriter:
    """Turns finished calls into ledger rows in a background thread; ``close()`` flushes everything."""

    def __init__(
        self,
        url: str,
        to_row: Callable[[Finished], CallRow | None],
        batch: int = 256,
        also: Callable[[list[Finished]], None] | None = None,
    ) -> None:
        self._url = url
        self._also = also
        self._to_row = to_row
        self._batch = batch
        self._queue: queue.Queue[object] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="helm-eval-ledger", daemon=True)
        self.errors: list[str] = []
        self.written = 0
        self._thread.start()

    @property
    def url(self) -> str:
        """The ledger this writer records into."""
        return self._url

    def put(self, finished: Finished) -> None:
        """Queue a finished call (thread-safe; called on the dispatch loop)."""
        self._queue.put(finished)

    def _run(self) -> None:
        try:
            ledger = Ledger(self._url)
        except Exception as exc:  # ledger I/O never aborts a run: report and drain
            self.errors.append(f"cannot open ledger: {exc}")
            ledger = None
        stop = False
        while not stop:
            items = [self._queue.get()]
            while len(items) < self._batch:
                try:
                    items.append(self._queue.get(timeout=0.02))
                except queue.Empty:
                    break
            stop = any(item is _STOP for item in items)
            finished = [item for item in items if isinstance(item, Finished)]
            if finished:
                self._write(ledger, finished)
        if ledger is not None:
            ledger.close()

    def _write(self, ledger: Ledger | None, finished: list[Finished]) -> None:
        rows: list[CallRow] = []
        release: list[int] = []
        for item in finished:
            if item.call.reservation is not None:
                release.append(item.call.reservation)
            if item.sent:
                row = self._to_row(item)
                if row is not None:
                    rows.append(row)
        if self._also is not None:
            self._also(finished)
        if ledger is None:
            return
        for attempt in range(3):
            try:
                ledger.record_calls(rows, release)
                self.written += len(rows)
                return
            except Exception as exc:  # a locked or broken ledger warns; the run goes on
                if attempt == 2:
                    self.errors.append(f"ledger write failed ({len(rows)} calls not recorded): {exc}")
                time.sleep(0.2 * (attempt + 1))

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued and stop the thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)
