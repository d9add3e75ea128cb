"""The circuit breaker (half-open probing) and adaptive concurrency (AIMD, vLLM's queue), on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from helm_eval.dispatch import AdaptiveLimit, Breaker, QueueReading, parse_queue
from helm_eval.dispatch._limit import DECREASE_GAP_S, RAMP_START, headroom


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# -- breaker -------------------------------------------------------------------------------------------------


def test_the_breaker_opens_after_its_threshold_and_refuses_until_the_cool_down() -> None:
    clock = Clock()
    breaker = Breaker(threshold=3, cooldown=30.0, clock=clock)
    for _ in range(2):
        breaker.failed("connection refused")
    assert breaker.allow()
    assert not breaker.open
    breaker.failed("connection refused")
    assert breaker.open
    assert breaker.trips == 1
    clock.now += 29.9
    assert not breaker.allow()


def test_after_the_cool_down_one_probe_goes_through_and_an_answer_closes_the_breaker() -> None:
    clock = Clock()
    breaker = Breaker(threshold=1, cooldown=10.0, clock=clock)
    breaker.failed("HTTP 502")
    clock.now += 10.0
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # others wait for its result
    breaker.succeeded()
    assert not breaker.open
    assert all(breaker.allow() for _ in range(5))


def test_a_failed_probe_opens_the_breaker_for_another_cool_down() -> None:
    clock = Clock()
    breaker = Breaker(threshold=1, cooldown=10.0, clock=clock)
    breaker.failed("HTTP 502")
    clock.now += 10.0
    assert breaker.allow()
    breaker.failed("connection refused")
    assert breaker.open
    assert not breaker.allow()
    clock.now += 9.0
    assert not breaker.allow()
    clock.now += 1.0
    assert breaker.allow()
    assert breaker.trips == 1  # it never closed in between


def test_a_timeout_counts_only_against_a_probe() -> None:
    clock = Clock()
    breaker = Breaker(threshold=2, cooldown=5.0, clock=clock)
    for _ in range(10):
        breaker.timed_out("timed out after 1 s")
    assert not breaker.open  # a slow server is not a dead one
    breaker.trip("unreachable before the run")
    clock.now += 5.0
    assert breaker.allow()
    breaker.timed_out("timed out after 1 s")
    assert breaker.open
    assert not breaker.allow()


# -- adaptive limit ------------------------------------------------------------------------------------------


def test_overload_halves_the_limit_once_per_burst_and_never_below_one() -> None:
    clock = Clock()
    limit = AdaptiveLimit(64, clock=clock)
    limit.reading(None)  # no /metrics: no ramp
    limit.overloaded()
    limit.overloaded()  # the same burst
    assert limit.limit == 32
    for _ in range(10):
        clock.now += DECREASE_GAP_S
        limit.overloaded()
    assert limit.limit == 1
    assert limit.allowed == 1
    assert limit.decreases == 6  # 64 -> 32 -> 16 -> 8 -> 4 -> 2 -> 1


def test_answers_add_back_about_one_per_round_and_never_above_the_ceiling() -> None:
    limit = AdaptiveLimit(12, clock=Clock())
    limit.reading(None)
    limit.limit = 8.0
    for _ in range(8):
        limit.succeeded()
    assert 8.9 < limit.limit < 9.1
    for _ in range(1000):
        limit.succeeded()
    assert limit.limit == 12


def test_a_long_server_queue_sets_the_limit_to_what_it_runs_plus_headroom() -> None:
    limit = AdaptiveLimit(256, clock=Clock())
    assert limit.allowed == RAMP_START  # before the first reading
    limit.reading(QueueReading(running=8, waiting=8))
    assert limit.ramp is None
    assert limit.allowed == 8 + headroom(8)


def test_the_ramp_doubles_with_each_reading_that_shows_no_queue() -> None:
    limit = AdaptiveLimit(100, clock=Clock())
    seen = []
    for _ in range(4):
        seen.append(limit.allowed)
        limit.reading(QueueReading(running=3, waiting=0))
    assert seen == [16, 32, 64, 100]
    assert limit.allowed == 100
    assert limit.ramp is None


def test_an_empty_queue_while_calls_are_held_back_raises_the_limit() -> None:
    limit = AdaptiveLimit(64, clock=Clock())
    limit.reading(QueueReading(running=8, waiting=30))
    assert limit.allowed == 10
    limit.in_flight = 10
    limit.reading(QueueReading(running=10, waiting=0))
    assert limit.allowed > 10
    limit.in_flight = 2
    before = limit.limit
    limit.reading(QueueReading(running=2, waiting=0))  # not held back: nothing to learn
    assert limit.limit == before


def test_a_fixed_limit_never_moves() -> None:
    limit = AdaptiveLimit(8, adaptive=False, clock=Clock())
    limit.overloaded()
    limit.reading(QueueReading(running=1, waiting=50))
    assert limit.allowed == 8


def test_the_limit_bounds_requests_in_flight_and_lets_waiters_in_when_it_grows() -> None:
    async def scenario() -> list[int]:
        limit = AdaptiveLimit(4, clock=Clock())
        limit.reading(None)
        limit.overloaded()  # 4 -> 2
        peak: list[int] = []
        release = asyncio.Event()

        async def call() -> None:
            async with limit:
                peak.append(limit.in_flight)
                await release.wait()

        tasks = [asyncio.create_task(call()) for _ in range(6)]
        await asyncio.sleep(0.01)
        first = limit.in_flight
        for _ in range(10):
            limit.succeeded()  # additive increase back to the ceiling wakes the waiters
        await asyncio.sleep(0.01)
        second = limit.in_flight
        release.set()
        await asyncio.gather(*tasks)
        return [first, second, max(peak), limit.in_flight]

    assert asyncio.run(scenario()) == [2, 4, 4, 0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '# HELP x\nvllm:num_requests_running{engine="0",model_name="m"} 8.0\n'
            'vllm:num_requests_waiting{engine="0",model_name="m"} 3.0\n'
            'vllm:num_requests_waiting{engine="1",model_name="m"} 2.0\n',
            QueueReading(8, 5),
        ),
        ("vllm:num_requests_waiting 0\n", QueueReading(0, 0)),
        ("other_metric 1\n", None),
        ("vllm:num_requests_waiting{} not-a-number\n", None),
    ],
)
def test_the_queue_is_read_from_prometheus_text(text: str, expected: QueueReading | None) -> None:
    assert parse_queue(text) == expected
