"""Pausing Python's cyclic garbage collector while a batch of long-lived objects is built.

Loading a big suite allocates hundreds of thousands of objects (YAML nodes, dicts, cases, calls) that all stay
alive: the collector, triggered every few hundred allocations, walks them again and again to free nothing, and
that walking was a large part of collecting a 2,000-case suite. Reference counting still frees everything
that is not in a cycle; cycles made during the pause are collected at the next collection after it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused(*, freeze: bool = False) -> Iterator[None]:
    """Disable the cyclic collector for the block; re-enable it after only if it was enabled before.

    ``freeze``: what the block built lives as long as the process, so move it out of the collector's reach
    (``gc.freeze()``) before enabling it again; otherwise the first collection after the pause walks it all.
    """
    if not gc.isenabled():
        yield
        if freeze:
            gc.freeze()
        return
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        gc.enable()
