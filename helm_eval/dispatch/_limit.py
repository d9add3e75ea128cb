"""Adaptive concurrency per endpoint: as many requests in flight as the server can take, never above the ceiling.

Two signals move the limit. Overload answers (429, 503) and timeouts halve it (multiplicative decrease, at most
once per ``DECREASE_GAP_S`` so one burst of errors counts once); each answer adds ``1/limit`` back (additive
increase: about one more request per round of answers). Where the server exposes vLLM's Prometheus ``/metrics``,
its queue is read while calls are in flight (every ``POLL_S`` during the ramp, ``STEADY_POLL_S`` after): a queue
longer than a small headroom sets the limit to what the server is running plus that headroom; an empty queue
while helm-eval holds calls back raises it.

vLLM queues what it cannot batch rather than refusing it, so without the queue reading a burst at the ceiling
would sit in its queue until requests time out. Sends therefore ramp up: at most ``RAMP_START`` in flight
before the first reading, doubling with each reading that shows no queue, until the ceiling. A server without
``/metrics`` gets the ceiling after its first (failed) reading, and AIMD alone.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from helm_eval._http import Transport

RAMP_START = 16
"""Requests in flight allowed before the first ``/metrics`` reading."""
POLL_S = 0.1
"""Seconds between ``/metrics`` readings while sends ramp up."""
STEADY_POLL_S = 0.5
"""Seconds between readings after the ramp: rendering ``/metrics`` costs the server CPU, and the queue moves slowly."""
DECREASE_GAP_S = 1.0
"""At most one multiplicative decrease per this many seconds (one burst of 429s is one signal)."""
DECREASE = 0.5
"""Factor of a multiplicative decrease."""


def headroom(running: int) -> int:
    """Requests allowed to wait in the server's queue beyond those it runs: keeps its batch full between answers."""
    return max(2, running // 4)


@dataclass(frozen=True, slots=True)
class QueueReading:
    """One reading of the server's ``/metrics``: requests it runs and requests waiting for a batch slot."""

    running: int
    waiting: int


class AdaptiveLimit:
    """A semaphore whose size adapts (AIMD plus vLLM's queue), used as ``async with limit:`` around a request.

    ``clock`` is injectable for tests. ``ceiling`` is the configured ``max_concurrency``; the limit never exceeds
    it and never falls below 1. ``adaptive=False`` keeps it fixed at the ceiling (a plain semaphore).
    """

    def __init__(self, ceiling: int, *, adaptive: bool = True, clock: Callable[[], float] = time.monotonic) -> None:
        self.ceiling = ceiling
        self.adaptive = adaptive
        self.limit = float(ceiling)
        """The current limit (fractional: additive increase adds 1/limit per answer)."""
        self.ramp: int | None = min(ceiling, RAMP_START) if adaptive else None
        """Cap on sends until ``/metrics`` has been read (``None``: ramp over)."""
        self.in_flight = 0
        self.decreases = 0
        self.lowest = ceiling
        """The lowest limit reached (reported by the bench)."""
        self._clock = clock
        self._last_decrease = float("-inf")
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def allowed(self) -> int:
        """Requests that may be in flight now."""
        allowed = max(1, int(self.limit))
        return min(allowed, self.ramp) if self.ramp is not None else allowed

    # -- signals -------------------------------------------------------------------------------------------

    def succeeded(self) -> None:
        """An answer arrived: additive increase."""
        if self.adaptive and self.limit < self.ceiling:
            self._set(self.limit + 1 / max(self.limit, 1.0))

    def overloaded(self) -> None:
        """A 429, a 503 or a timeout: multiplicative decrease, once per burst."""
        if not self.adaptive:
            return
        now = self._clock()
        if now - self._last_decrease < DECREASE_GAP_S or self.limit <= 1:
            return
        self._last_decrease = now
        self.decreases += 1
        self._set(self.limit * DECREASE)

    def reading(self, reading: QueueReading | None) -> None:
        """A ``/metrics`` reading (``None``: the server exposes none); ends the ramp once it is safe."""
        if not self.adaptive:
            return
        if reading is None:
            self.ramp = None
            return
        room = headroom(reading.running)
        if reading.waiting > room:
            # the server runs what it can batch; more in flight only queues there and ages towards a timeout
            self.ramp = None
            self._set(min(self.limit, reading.running + room))
        elif self.ramp is not None:
            self.ramp *= 2
            if self.ramp >= self.ceiling:
                self.ramp = None
        elif reading.waiting == 0 and self.in_flight >= self.allowed:
            self._set(self.limit * 1.25 + 1)  # held back while the server has room: grow faster than AIMD

    def _set(self, limit: float) -> None:
        self.limit = min(float(self.ceiling), max(1.0, limit))
        self.lowest = min(self.lowest, int(self.limit))
        self._wake()

    # -- the semaphore ---------------------------------------------------------------------------------------

    async def __aenter__(self) -> None:
        if self.in_flight < self.allowed and not self._waiters:
            self.in_flight += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # granted just as the call was cancelled
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._release()

    def _release(self) -> None:
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.allowed:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.in_flight += 1
                waiter.set_result(None)

    @property
    def waiting(self) -> int:
        """Calls waiting in helm-eval for a slot."""
        return len(self._waiters)


def parse_queue(text: str) -> QueueReading | None:
    """``vllm:num_requests_running`` and ``vllm:num_requests_waiting`` from Prometheus text (summed over engines)."""
    running = waiting = 0.0
    seen = False
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name not in ("vllm:num_requests_running", "vllm:num_requests_waiting"):
            continue
        try:
            value = float(line.rsplit(" ", 1)[1])
        except (IndexError, ValueError):
            continue
        seen = True
        if name == "vllm:num_requests_running":
            running += value
        else:
            waiting += value
    return QueueReading(int(running), int(waiting)) if seen else None


async def read_queue(
    transport: Transport, base_url: str, headers: dict[str, str], timeout: float = 2.0
) -> QueueReading | None:
    """The server's queue from its ``/metrics`` (beside ``/v1``); ``None`` when it exposes none or cannot answer."""
    url = f"{base_url.removesuffix('/v1')}/metrics"
    try:
        reply = await transport.request("GET", url, headers, None, timeout)
    except (ConnectionError, TimeoutError):
        return None
    return parse_queue(reply.body.decode("utf-8", "replace")) if reply.status == 200 else None
