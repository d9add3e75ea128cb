"""HTTP for model calls: a ``Transport`` per run, by default an HTTP worker process (see ``_worker``).

Importing this package does not import aiohttp; only ``SessionTransport`` (and the worker process) does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from helm_eval._http._transport import ConnectionLost, NotConnected, Reply, Transport, proxied, without_key
from helm_eval._http._worker import WorkerTransport

if TYPE_CHECKING:
    from helm_eval._http._session import SessionTransport

__all__ = [
    "ConnectionLost",
    "NotConnected",
    "Reply",
    "SessionTransport",
    "Transport",
    "WorkerTransport",
    "proxied",
    "without_key",
]


def __getattr__(name: str) -> Any:
    if name == "SessionTransport":
        from helm_eval._http._session import SessionTransport

        return SessionTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
