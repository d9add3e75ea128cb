"""One background asyncio loop that sends every model call: adaptive concurrency, retries, failover, cancellation.

pytest runs items one after another on the main thread; the dispatcher lets the plugin submit all calls of
the run up front ("dispatch ahead") so the server sees a full queue, while each item waits only for its own
``concurrent.futures.Future``.

Failover: a call its endpoint cannot answer (``Outcome.unavailable``: refused or dropped connections, timeouts
or 5xx after every retry, or the endpoint's breaker open) goes to the next endpoint of that endpoint's
``fallback`` list. The call keeps its one budget reservation; the leg that answers settles it, and each earlier
leg that was sent is recorded on its own (without the reservation) so what it may have cost is still charged.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import random
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from helm_eval._http import Transport, WorkerTransport
from helm_eval._records import Call, Outcome
from helm_eval.dispatch._breaker import Breaker
from helm_eval.dispatch._client import ChatClient, Endpoint, list_models, server_tokens
from helm_eval.dispatch._limit import POLL_S, STEADY_POLL_S, AdaptiveLimit, read_queue

T = TypeVar("T")

OnFinished = Callable[[Call, Outcome | None, bool, float, float], None]
"""Called on the loop thread when a call ends: (call, outcome or None if cancelled, sent, started, ended)."""

Retarget = Callable[[Call, Endpoint], Call]
"""The call as sent to a fallback endpoint (its endpoint, URL, model and cache key)."""

METRICS_MISSES = 3
"""``/metrics`` readings in a row that fail before an endpoint's queue stops being polled."""


def retarget(call: Call, endpoint: Endpoint) -> Call:
    """``call`` sent to ``endpoint`` instead: its model is the endpoint's (or the call's when it sets none).

    The cache key is dropped: it named the model the call was routed to. The pipeline's hook keys it again.
    """
    model = endpoint.model or call.model
    return dataclasses.replace(call, endpoint=endpoint.name, base_url=endpoint.base_url, model=model, cache_key=None)


class Dispatcher:
    """Owns the event loop thread, the HTTP transport, and per endpoint an adaptive limit and a circuit breaker.

    The transport is an HTTP worker process unless one is given; the dispatcher closes it when it closes.
    """

    def __init__(
        self,
        endpoints: Mapping[str, Endpoint],
        *,
        retries: int = 3,
        seed: int | None = None,
        on_finished: OnFinished | None = None,
        retarget: Retarget = retarget,
        transport: Transport | None = None,
    ) -> None:
        self.endpoints = dict(endpoints)
        self.on_finished = on_finished
        self.retarget = retarget
        self._retries = retries
        self._rng = random.Random(seed)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._owns_transport = transport is None
        if transport is None:
            worker = WorkerTransport()
            worker.spawn()  # it loads its HTTP client on another core while this process goes on
            transport = worker
        self._transport: Transport = transport
        self._client = ChatClient(transport, retries, self._rng)
        self.limits: dict[str, AdaptiveLimit] = {
            name: AdaptiveLimit(ep.max_concurrency, adaptive=ep.adaptive) for name, ep in self.endpoints.items()
        }
        """Requests in flight per endpoint, adapted to what its server takes (never above ``max_concurrency``)."""
        self._watched: set[str] = set()
        self.breakers: dict[str, Breaker] = {name: Breaker() for name in self.endpoints}
        """One circuit breaker per endpoint: a dead endpoint's calls end at once, or go to its fallback."""
        self.failed_over: dict[tuple[str, str], int] = {}
        """Calls answered by a fallback, by (endpoint routed to, endpoint that answered)."""
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()
        self.submitted = 0
        self._probed: concurrent.futures.Future[dict[str, list[str] | str]] | None = None
        self._counted: concurrent.futures.Future[dict[str, int | None]] | None = None

    def start(self) -> None:
        """Start the loop thread (idempotent)."""
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
        """Send ``call`` to its endpoint, then to each fallback in turn while the one tried cannot answer."""
        chain = [call.endpoint, *self.endpoints[call.endpoint].fallback]
        leg, outcome = call, None
        sent: list[float] = []
        failures: list[str] = []
        try:
            for index, name in enumerate(chain):
                endpoint = self.endpoints[name]
                leg = call if index == 0 else self.retarget(call, endpoint)
                sent = []
                self._watch(name)
                outcome = await self._client.chat(
                    endpoint,
                    leg,
                    self.limits[name],
                    on_send=functools.partial(_stamp, sent),
                    breaker=self.breakers[name],
                )
                if outcome.ok or not outcome.unavailable or index == len(chain) - 1:
                    break
                failures.append(f"{name!r}: {outcome.error}")
                if sent and self.on_finished is not None:
                    # the reservation follows the call to the next endpoint; this leg is charged what the
                    # server may have generated for it (abandoned attempts), and counts as an error row
                    self.on_finished(dataclasses.replace(leg, reservation=None, cache_key=None), outcome, True,
                                     sent[0], time.time())  # fmt: skip
            assert outcome is not None
            if outcome.ok and leg.endpoint != call.endpoint:
                outcome.failed_over_from = call.endpoint
                pair = (call.endpoint, leg.endpoint)
                self.failed_over[pair] = self.failed_over.get(pair, 0) + 1
            elif not outcome.ok and failures and outcome.unavailable:
                failures.append(f"{leg.endpoint!r}: {outcome.error}")
                outcome.error = "no endpoint could answer: " + "; ".join(failures)
            return outcome
        finally:
            if self.on_finished is not None:
                started = sent[0] if sent else time.time()
                self.on_finished(leg, outcome, bool(sent), started, time.time())

    def _watch(self, name: str) -> None:
        """Poll the endpoint's ``/metrics`` queue while it has calls, when its limit adapts (once per endpoint)."""
        limit = self.limits[name]
        if not limit.adaptive or name in self._watched:
            return
        self._watched.add(name)
        endpoint = self.endpoints[name]

        async def poll() -> None:
            misses = 0
            while misses < METRICS_MISSES:
                reading = await read_queue(self._transport, endpoint.base_url, endpoint.headers())
                limit.reading(reading)
                misses = misses + 1 if reading is None else 0
                await asyncio.sleep(POLL_S if limit.ramp is not None else STEADY_POLL_S)
                while limit.in_flight == 0 and limit.waiting == 0:
                    await asyncio.sleep(POLL_S)  # idle: nothing to learn

        task = asyncio.get_running_loop().create_task(poll())
        self._tasks.add(task)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the dispatch loop (e.g. token estimation) and wait for its result."""
        if self._loop is None:
            self.start()
        return self._run(coro)

    @property
    def transport(self) -> Transport:
        """The HTTP transport (use only from coroutines running on the dispatch loop)."""
        return self._transport

    def probe_ahead(self, *, tokens: bool) -> None:
        """Ask every endpoint for its models (and, with ``tokens``, its server's token counters) without waiting.

        The answers are kept for the first ``check_endpoints()`` and ``server_tokens()``, so a caller that starts
        the probe early (while suites are still loading) does not wait a round trip before its first call.
        """
        self.start()
        assert self._loop is not None
        if self._probed is None:
            self._probed = asyncio.run_coroutine_threadsafe(self._models(list(self.endpoints)), self._loop)
        if tokens and self._counted is None:
            self._counted = asyncio.run_coroutine_threadsafe(self._tokens(), self._loop)

    def check_endpoints(self, names: list[str] | None = None) -> dict[str, list[str] | str]:
        """Ask each endpoint for its models: name → model list, or name → reason it could not be reached."""
        if names is None and self._probed is not None:
            probed, self._probed = self._probed, None
            return probed.result()
        if self._loop is None:
            self.start()
        return self._run(self._models(names if names is not None else list(self.endpoints)))

    async def _models(self, names: list[str]) -> dict[str, list[str] | str]:
        results = await asyncio.gather(
            *(list_models(self._transport, self.endpoints[n]) for n in names), return_exceptions=True
        )
        return {n: (str(r) if isinstance(r, BaseException) else r) for n, r in zip(names, results, strict=True)}

    def dead(self) -> dict[str, Breaker]:
        """The endpoints whose breaker opened, with their breakers (reason, calls refused)."""
        return {name: breaker for name, breaker in self.breakers.items() if breaker.open}

    def server_tokens(self) -> dict[str, int | None]:
        """Tokens each endpoint's server has counted (vLLM's ``/metrics``), ``None`` where it does not say."""
        if self._counted is not None:
            counted, self._counted = self._counted, None
            return counted.result()
        if self._loop is None:
            self.start()
        return self._run(self._tokens())

    async def _tokens(self) -> dict[str, int | None]:
        names = list(self.endpoints)
        counts = await asyncio.gather(*(server_tokens(self._transport, self.endpoints[n]) for n in names))
        return dict(zip(names, counts, strict=True))

    def cancel_pending(self) -> int:
        """Cancel every call not finished yet (Ctrl-C, ``-x``); returns how many were cancelled."""
        with self._lock:
            pending = list(self._pending)
        return sum(1 for future in pending if future.cancel())

    def close(self) -> None:
        """Cancel what is still queued, close the transport and stop the loop thread."""
        if self._loop is None or self._thread is None:
            self._close_unstarted()
            return
        self.cancel_pending()

        async def stop_polling() -> None:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self._run(stop_polling())
        with contextlib.suppress(Exception):  # closing must never mask the run's own result
            self._run(self._transport.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None
        self._thread = None
        self._renew_transport()

    def _close_unstarted(self) -> None:
        """Close the transport of a dispatcher whose loop never ran (its worker may be running)."""
        with contextlib.suppress(Exception):
            asyncio.run(self._transport.close())
        self._renew_transport()

    def _renew_transport(self) -> None:
        """A closed dispatcher is like a new one: its own worker starts again on the next request."""
        if self._owns_transport:
            self._transport = WorkerTransport()
            self._client = ChatClient(self._transport, self._retries, self._rng)


def _stamp(times: list[float]) -> None:
    times.append(time.time())
