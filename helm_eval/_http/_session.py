"""``SessionTransport``: requests sent from this process over one aiohttp session (the HTTP worker's side)."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from helm_eval._http._transport import ConnectionLost, NotConnected, Reply, proxied


class SessionTransport:
    """Sends requests over one aiohttp session; create and use it on one running event loop."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self._session = session

    @classmethod
    def open(cls) -> SessionTransport:
        """A transport with its own session (call from a coroutine: the session binds to the running loop)."""
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
        # trust_env makes aiohttp look for ~/.netrc on every request (twice): ~1.6 ms each, the largest cost per
        # call at 2,000 calls; it is needed only to honour proxy variables
        return cls(aiohttp.ClientSession(connector=connector, trust_env=proxied()))

    async def request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None, timeout: float
    ) -> Reply:
        """Send one request; see ``Transport.request``."""
        try:
            async with self._session.request(
                method, url, data=body, headers=dict(headers), timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                payload = await response.read()
                return Reply(response.status, payload, response.headers.get("Retry-After"))
        except TimeoutError:  # aiohttp's read timeouts are ClientErrors too: a timeout is a timeout
            raise
        except aiohttp.ClientConnectorError as exc:
            raise NotConnected(str(exc) or type(exc).__name__) from None
        except aiohttp.ClientError as exc:
            raise ConnectionLost(str(exc) or type(exc).__name__) from None

    async def close(self) -> None:
        """Close the session."""
        await self._session.close()
