"""How a request reaches an endpoint: a ``Transport`` sends one HTTP request and hands back the reply.

What the retry rules need from a failure is which kind it was, so a transport raises one of three:
``TimeoutError`` (no full answer in time), ``NotConnected`` (the server saw nothing) or ``ConnectionLost``
(connected, then dropped: the server may be generating). Everything else about a request (its body, retries,
the breaker, concurrency) is the client's.

Two transports exist: ``SessionTransport`` sends from this process with aiohttp; ``WorkerTransport`` hands the
request to a helper process that does the same, so parsing HTTP does not compete with pytest for this
process's interpreter lock. The dispatcher uses the worker.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Reply:
    """An endpoint's answer: its status, its body as sent, and its ``Retry-After`` header if any."""

    status: int
    body: bytes
    retry_after: str | None = None


class NotConnected(ConnectionError):
    """The request never reached the server (refused, DNS, no route): the server saw nothing."""


class ConnectionLost(ConnectionError):
    """The connection dropped after the request went out: the server may have generated an answer."""


class Transport(Protocol):
    """Sends HTTP requests; used from the dispatch loop only."""

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> Reply:
        """Send one request; the reply, whatever its status, or one of the three failures above."""
        ...

    async def close(self) -> None:
        """Release connections (and the worker process, for ``WorkerTransport``)."""
        ...


def without_key(message: str, headers: Mapping[str, str]) -> str:
    """``message`` with the request's own API key taken out (servers and libraries echo headers back)."""
    key = headers.get("Authorization", "").removeprefix("Bearer ")
    return message.replace(key, f"[redacted: {len(key)} chars]") if len(key) >= 8 else message


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def proxied() -> bool:
    """True when a proxy variable is set, so requests must honour the environment."""
    return any(os.environ.get(name) for name in PROXY_VARIABLES)
