"""One background asyncio loop that sends every model call: bounded concurrency, retries, cancellation.

pytest runs items one after another on the main thread; the dispatcher lets the plugin submit all calls of
the run up front ("dispatch ahead") so the server sees a full queue, while each item waits only for its own
``concurrent.futures.Future``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import random
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

import aiohttp

from helm_eval._records import Call, Outcome
from helm_eval.dispatch._breaker import Breaker
from helm_eval.dispatch._client import ChatClient, Endpoint, list_models, server_tokens

T = TypeVar("T")

OnFinished = Callable[[Call, Outcome | None, bool, float, float], None]
"""Called on the loop thread when a call ends: (call, outcome or None if cancelled, sent, started, ended)."""


class Dispatcher:
    """Owns the event loop thread, the HTTP session and a request-slot semaphore per endpoint."""

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint],
        *,
        retries: int = 3,
        seed: int | None = None,
        on_finished: OnFinished | None = None,
    ) -> None:
        self.endpoints = dict(endpoints)
        self.on_finished = on_finished
        self._retries = retries
        self._rng = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: aiohttp.ClientSession | None = None
        self._client: ChatClient | None = None
        self._slots: dict[str, asyncio.Semaphore] = {}
        self.breakers: dict[str, Breaker] = {name: Breaker() for name in self.endpoints}
        """One circuit breaker per endpoint: a dead endpoint's remaining calls end at once."""
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._lock = threading.Lock()
        self.submitted = 0

    def start(self) -> None:
        """Start the loop thread and open the HTTP session (idempotent)."""
        if self._thread is not None:
            return
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()

        def run() -> None:
            assert self._loop is not None
            asyncio.set_event_loop(self._loop)
            self._loop.call_soon(ready.set)
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="helm-eval-dispatch", daemon=True)
        self._thread.start()
        ready.wait()
        self._run(self._open())

    async def _open(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True)
        # trust_env makes aiohttp look for ~/.netrc on every request (twice): ~1.6 ms each, the dispatch thread's
        # largest cost at 2,000 calls; it is needed only to honour proxy variables
        self._session = aiohttp.ClientSession(connector=connector, trust_env=_proxied())
        self._client = ChatClient(self._session, self._retries, self._rng)
        self._slots = {name: asyncio.Semaphore(ep.max_concurrency) for name, ep in self.endpoints.items()}

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the loop and wait for it (for start-up and checks, not for calls)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def submit(self, call: Call) -> concurrent.futures.Future[Outcome]:
        """Queue ``call``; the future resolves to its ``Outcome`` (errors are in ``Outcome.error``)."""
        if self._loop is None:
            self.start()
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._send(call), self._loop)
        with self._lock:
            self._pending.add(future)
            self.submitted += 1
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    async def _send(self, call: Call) -> Outcome:
        assert self._client is not None
        endpoint = self.endpoints[call.endpoint]
        sent: list[float] = []
        outcome: Outcome | None = None
        try:
            outcome = await self._client.chat(
                endpoint,
                call,
                self._slots[call.endpoint],
                on_send=lambda: sent.append(time.time()),
                breaker=self.breakers[call.endpoint],
            )
            return outcome
        finally:
            if self.on_finished is not None:
                started = sent[0] if sent else time.time()
                self.on_finished(call, outcome, bool(sent), started, time.time())

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the dispatch loop (e.g. token estimation) and wait for its result."""
        if self._loop is None:
            self.start()
        return self._run(coro)

    @property
    def session(self) -> aiohttp.ClientSession:
        """The HTTP session (use only from coroutines running on the dispatch loop)."""
        assert self._session is not None
        return self._session

    def check_endpoints(self, names: list[str] | None = None) -> dict[str, list[str] | str]:
        """Ask each endpoint for its models: name → model list, or name → reason it could not be reached."""
        if self._loop is None:
            self.start()

        async def probe() -> dict[str, list[str] | str]:
            assert self._session is not None
            wanted = names if names is not None else list(self.endpoints)
            results = await asyncio.gather(
                *(list_models(self._session, self.endpoints[n]) for n in wanted), return_exceptions=True
            )
            return {n: (str(r) if isinstance(r, BaseException) else r) for n, r in zip(wanted, results, strict=True)}

        return self._run(probe())

    def dead(self) -> dict[str, Breaker]:
        """The endpoints whose breaker opened, with their breakers (reason, calls refused)."""
        return {name: breaker for name, breaker in self.breakers.items() if breaker.open}

    def server_tokens(self) -> dict[str, int | None]:
        """Tokens each endpoint's server has counted (vLLM's ``/metrics``), ``None`` where it does not say."""
        if self._loop is None:
            self.start()

        async def read() -> dict[str, int | None]:
            assert self._session is not None
            names = list(self.endpoints)
            counts = await asyncio.gather(*(server_tokens(self._session, self.endpoints[n]) for n in names))
            return dict(zip(names, counts, strict=True))

        return self._run(read())

    def cancel_pending(self) -> int:
        """Cancel every call not finished yet (Ctrl-C, ``-x``); returns how many were cancelled."""
        with self._lock:
            pending = list(self._pending)
        return sum(1 for future in pending if future.cancel())

    def close(self) -> None:
        """Cancel what is still queued, close the session and stop the loop thread."""
        if self._loop is None or self._thread is None:
            return
        self.cancel_pending()
        if self._session is not None:
            with contextlib.suppress(Exception):  # closing must never mask the run's own result
                self._run(self._session.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None
        self._thread = None


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def _proxied() -> bool:
    """True when a proxy variable is set, so requests must honour the environment."""
    return any(os.environ.get(name) for name in PROXY_VARIABLES)
