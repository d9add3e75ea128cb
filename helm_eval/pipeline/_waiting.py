"""Acting when a group of calls has answered, without a thread blocked waiting for them."""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Sequence
from typing import Any


def when_all_done(futures: Sequence[concurrent.futures.Future[Any]], then: Callable[[], None]) -> None:
    """Call ``then`` once, on the thread that completes the last of ``futures`` (at once when there are none).

    That thread is usually the dispatch loop's: ``then`` should only hand the work over, never wait on the loop.
    """
    remaining = len(futures)
    lock = threading.Lock()

    def arrived(_: concurrent.futures.Future[Any]) -> None:
        nonlocal remaining
        with lock:
            remaining -= 1
            if remaining:
                return
        then()

    if not futures:
        then()
    for future in futures:
        future.add_done_callback(arrived)
