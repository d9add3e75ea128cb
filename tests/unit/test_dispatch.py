"""The dispatcher and its HTTP client against the vLLM double: outcomes, retries, Retry-After, limits, cancel."""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from fixtures.vllm_double import VLLMDouble
from helm_eval import Call
from helm_eval.dispatch import Dispatcher, Endpoint, build_payload, parse_retry_after
from helm_eval.dispatch._client import BACKOFF_BASE_S, BACKOFF_CAP_S, RETRY_AFTER_CAP_S, backoff_delay


def endpoint(
    double: VLLMDouble | None, *, concurrency: int = 8, timeout: float = 5.0, key: str | None = None
) -> Endpoint:
    url = double.base_url if double is not None else f"http://127.0.0.1:{free_port()}/v1"
    return Endpoint("local", url, "double-model", key, concurrency, timeout)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(text: str = "What is 2+2?", **params: object) -> Call:
    return Call("local", "unused", "double-model", ({"role": "user", "content": text},), dict(params))


def chat_requests(double: VLLMDouble) -> list:
    return [r for r in double.requests if r.path == "/v1/chat/completions"]


@pytest.fixture
def dispatch() -> Iterator[list[Dispatcher]]:
    made: list[Dispatcher] = []
    yield made
    for dispatcher in made:
        dispatcher.close()


def start(made: list[Dispatcher], ep: Endpoint, retries: int = 3) -> Dispatcher:
    dispatcher = Dispatcher({ep.name: ep}, retries=retries, seed=1)
    dispatcher.start()
    made.append(dispatcher)
    return dispatcher


# -- payload and header helpers --------------------------------------------------------------------------


def test_payload_merges_extra_body_at_the_top_level() -> None:
    payload = build_payload(call("hi", temperature=0.0, max_tokens=5, extra_body={"top_k": 3, "guided_json": {}}))
    assert payload == {
        "model": "double-model",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0.0,
        "max_tokens": 5,
        "top_k": 3,
        "guided_json": {},
    }


def test_api_key_goes_only_in_the_authorization_header() -> None:
    assert Endpoint("e", "http://x/v1", None, "k-1", 1, 1.0).headers()["Authorization"] == "Bearer k-1"
    assert "Authorization" not in Endpoint("e", "http://x/v1", None, None, 1, 1.0).headers()
    assert "k-1" not in repr(build_payload(call()))


@pytest.mark.parametrize(
    ("header", "seconds"),
    [(None, None), ("", None), ("3", 3.0), ("0.5", 0.5), ("-4", 0.0), ("100000", RETRY_AFTER_CAP_S), ("soon", None)],
)
def test_parse_retry_after_seconds(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_parse_retry_after_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    seconds = parse_retry_after(when)
    assert seconds is not None
    assert 25 <= seconds <= 30
    past = format_datetime(datetime.now(UTC) - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(past) == 0.0


def test_backoff_is_full_jitter_and_capped() -> None:
    rng = random.Random(0)
    for attempt in range(12):
        for _ in range(20):
            assert 0 <= backoff_delay(attempt, rng) <= min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt)


# -- outcomes --------------------------------------------------------------------------------------------


def test_successful_call_reports_text_usage_and_finish_reason(vllm_double: VLLMDouble, dispatch: list) -> None:
    dispatcher = start(dispatch, endpoint(vllm_double))
    outcome = dispatcher.submit(call("What is 2+2?", max_tokens=50)).result(timeout=10)
    assert outcome.ok
    assert outcome.text == "echo: What is 2+2?"
    assert (outcome.prompt_tokens, outcome.completion_tokens) == (vllm_double.totals.prompt_tokens, 8)
    assert outcome.total_tokens == outcome.prompt_tokens + 8
    assert (outcome.finish_reason, outcome.model, outcome.endpoint, outcome.retries) == (
        "stop",
        "double-model",
        "local",
        0,
    )
    assert outcome.latency_ms > 0
    (request,) = chat_requests(vllm_double)
    assert request.body["max_tokens"] == 50


def test_max_tokens_cut_is_reported_as_length(vllm_double: VLLMDouble, dispatch: list) -> None:
    outcome = start(dispatch, endpoint(vllm_double)).submit(call("one two three four", max_tokens=2)).result(10)
    assert (outcome.text, outcome.completion_tokens, outcome.finish_reason) == ("echo:", 2, "length")


@pytest.mark.vllm_double(api_key="k-123")
def test_api_key_is_sent(vllm_double: VLLMDouble, dispatch: list) -> None:
    assert start(dispatch, endpoint(vllm_double, key="k-123")).submit(call()).result(10).ok
    refused = start(dispatch, endpoint(vllm_double, key="wrong"), retries=0).submit(call()).result(10)
    assert refused.error is not None
    assert refused.error.startswith("HTTP 401")
    assert "wrong" not in refused.error


# -- retries ---------------------------------------------------------------------------------------------


@pytest.mark.vllm_double(faults=["503", "502", "ok"])
def test_transient_errors_are_retried_and_counted(vllm_double: VLLMDouble, dispatch: list) -> None:
    outcome = start(dispatch, endpoint(vllm_double)).submit(call()).result(10)
    assert outcome.ok
    assert outcome.retries == 2
    assert [r.fault for r in chat_requests(vllm_double)] == ["503", "502", None]


@pytest.mark.vllm_double(faults=["disconnect", "malformed"])
def test_dropped_connections_and_malformed_bodies_are_retried(vllm_double: VLLMDouble, dispatch: list) -> None:
    outcome = start(dispatch, endpoint(vllm_double)).submit(call()).result(10)
    assert outcome.ok
    assert outcome.retries == 2


@pytest.mark.vllm_double(faults=["429:1"])
def test_retry_after_is_honoured(vllm_double: VLLMDouble, dispatch: list) -> None:
    outcome = start(dispatch, endpoint(vllm_double)).submit(call()).result(10)
    assert outcome.ok
    first, second = chat_requests(vllm_double)
    assert first.fault == "429"
    assert second.timestamp - first.timestamp >= 0.9  # the backoff alone would be at most 0.25 s


@pytest.mark.vllm_double(faults=["500", "500", "500"])
def test_persistent_server_error_gives_up_with_the_reason(vllm_double: VLLMDouble, dispatch: list) -> None:
    outcome = start(dispatch, endpoint(vllm_double), retries=2).submit(call()).result(10)
    assert not outcome.ok
    assert outcome.text == ""
    assert outcome.error == "HTTP 500: injected fault: HTTP 500 (after 3 attempts)"
    assert outcome.retries == 2
    assert len(chat_requests(vllm_double)) == 3


@pytest.mark.parametrize("status", ["400", "404", "422"])
def test_client_errors_are_not_retried(vllm_double: VLLMDouble, dispatch: list, status: str) -> None:
    vllm_double.set(faults=[status])
    outcome = start(dispatch, endpoint(vllm_double)).submit(call()).result(10)
    assert outcome.error == f"HTTP {status}: injected fault: HTTP {status}"
    assert outcome.retries == 0
    assert len(chat_requests(vllm_double)) == 1


def test_unknown_model_is_a_clear_error(vllm_double: VLLMDouble, dispatch: list) -> None:
    dispatcher = start(dispatch, endpoint(vllm_double))
    wrong = Call("local", "unused", "nope", ({"role": "user", "content": "hi"},), {})
    outcome = dispatcher.submit(wrong).result(10)
    assert outcome.error == "HTTP 404: The model `nope` does not exist."


def test_server_error_text_is_made_inert(vllm_double: VLLMDouble, dispatch: list) -> None:
    dispatcher = start(dispatch, endpoint(vllm_double))
    hostile = Call("local", "unused", "\x1b[2Jm", ({"role": "user", "content": "hi"},), {})
    outcome = dispatcher.submit(hostile).result(10)
    assert outcome.error == "HTTP 404: The model `\\x1b[2Jm` does not exist."


@pytest.mark.vllm_double(faults=["hang", "hang"])
def test_timeouts_are_retried_then_reported(vllm_double: VLLMDouble, dispatch: list) -> None:
    outcome = start(dispatch, endpoint(vllm_double, timeout=0.2), retries=1).submit(call()).result(10)
    assert outcome.error == "timed out after 0.2 s (after 2 attempts)"


def test_connection_refused_is_reported_after_retries(dispatch: list) -> None:
    outcome = start(dispatch, endpoint(None), retries=1).submit(call()).result(10)
    assert outcome.error is not None
    assert outcome.error.startswith("connection error: ")
    assert outcome.error.endswith("(after 2 attempts)")


# -- concurrency, checks and cancellation ------------------------------------------------------------------


@pytest.mark.vllm_double(latency=0.1, capacity=64)
def test_requests_in_flight_are_bounded_per_endpoint(vllm_double: VLLMDouble, dispatch: list) -> None:
    dispatcher = start(dispatch, endpoint(vllm_double, concurrency=2))
    futures = [dispatcher.submit(call(f"q{i}")) for i in range(8)]
    most = 0
    while not all(f.done() for f in futures):
        most = max(most, vllm_double.num_running)
        time.sleep(0.005)
    assert all(f.result().ok for f in futures)
    assert 1 <= most <= 2
    assert dispatcher.submitted == 8


@pytest.mark.vllm_double(latency=0.1, capacity=64)
def test_dispatch_ahead_fills_the_server_queue(vllm_double: VLLMDouble, dispatch: list) -> None:
    dispatcher = start(dispatch, endpoint(vllm_double, concurrency=64))
    futures = [dispatcher.submit(call(f"q{i}")) for i in range(16)]
    most = 0
    while not all(f.done() for f in futures):
        most = max(most, vllm_double.num_running)
        time.sleep(0.002)
    assert most > 2  # calls are sent together, not one after another


@pytest.mark.vllm_double(latency=0.3)
def test_cancel_pending_stops_queued_calls(vllm_double: VLLMDouble, dispatch: list) -> None:
    dispatcher = start(dispatch, endpoint(vllm_double, concurrency=1))
    futures = [dispatcher.submit(call(f"q{i}")) for i in range(6)]
    assert futures[0].result(timeout=10).ok
    cancelled = dispatcher.cancel_pending()
    assert cancelled >= 4
    assert sum(f.cancelled() for f in futures) == cancelled
    dispatcher.close()
    assert len(chat_requests(vllm_double)) <= 2


def test_check_endpoints_lists_models_or_says_why_not(dispatch: list) -> None:
    with VLLMDouble(["a", "b"]) as double:
        good = endpoint(double)
        dead = Endpoint("dead", f"http://127.0.0.1:{free_port()}/v1", None, None, 1, 1.0)
        dispatcher = Dispatcher({"local": good, "dead": dead})
        dispatch.append(dispatcher)
        answers = dispatcher.check_endpoints()
    assert answers["local"] == ["a", "b"]
    assert isinstance(answers["dead"], str)
    assert "Connect" in answers["dead"] or "connect" in answers["dead"]


def dispatch_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "helm-eval-dispatch"}


def test_close_is_idempotent_and_safe_before_start(vllm_double: VLLMDouble) -> None:
    others = dispatch_threads()
    dispatcher = Dispatcher({"local": endpoint(vllm_double)})
    dispatcher.close()  # before start: nothing to stop, and no loop is started to stop it
    assert dispatch_threads() - others == set()
    dispatcher.start()
    dispatcher.start()
    [thread] = dispatch_threads() - others  # start is idempotent: one loop thread
    assert dispatcher.submit(call()).result(timeout=10).ok
    dispatcher.close()
    assert not thread.is_alive()
    dispatcher.close()
    assert dispatch_threads() - others == set()
    # a closed dispatcher is like a new one: a submit starts a fresh loop and is answered, and close stops it
    assert dispatcher.submit(call("again")).result(timeout=10).ok
    [again] = dispatch_threads() - others
    dispatcher.close()
    assert not again.is_alive()
    assert [r.body["messages"][0]["content"] for r in chat_requests(vllm_double)] == ["What is 2+2?", "again"]
