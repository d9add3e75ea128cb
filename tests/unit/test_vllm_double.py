"""Tests of the vLLM test double (fixtures/vllm_double), through real HTTP against a local port."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.vllm_double import Fault, Rule, RuleSpec, VLLMDouble, count_tokens, huge_text
from fixtures.vllm_double._state import State
from fixtures.vllm_double._text import generate

REPO_ROOT = Path(__file__).resolve().parents[2]
CHAT = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]


@dataclass
class Reply:
    status: int
    headers: Mapping[str, str]
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


async def _send(
    method: str, url: str, body: Any = None, headers: Mapping[str, str] | None = None, timeout: float = 5.0
) -> Reply:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
        session.request(method, url, json=body, headers=headers) as response,
    ):
        return Reply(response.status, dict(response.headers), await response.text())


def call(method: str, url: str, body: Any = None, **kwargs: Any) -> Reply:
    return asyncio.run(_send(method, url, body, **kwargs))


def chat(double: VLLMDouble, **extra: Any) -> Reply:
    return call("POST", f"{double.base_url}/chat/completions", {"model": "double-model", "messages": CHAT, **extra})


def sse_events(text: str) -> list[str]:
    return [line.removeprefix("data: ") for line in text.split("\n\n") if line.startswith("data: ")]


@pytest.fixture
def double() -> Iterator[VLLMDouble]:
    with VLLMDouble() as running:
        yield running


# --- shapes ---------------------------------------------------------------------------------------------


def test_chat_completion_has_vllm_shape(double: VLLMDouble) -> None:
    reply = chat(double, temperature=0.0, seed=7)
    assert reply.status == 200
    body = reply.json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "double-model"
    choice = body["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": "echo: What is 2+2?", "tool_calls": []}
    assert choice["finish_reason"] == "stop"
    usage = body["usage"]
    assert usage["completion_tokens"] == count_tokens("echo: What is 2+2?") == 8
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_completion_has_vllm_shape_and_defaults_to_16_tokens(double: VLLMDouble) -> None:
    prompt = " ".join(f"w{i}" for i in range(40))
    body = call("POST", f"{double.base_url}/completions", {"model": "double-model", "prompt": prompt}).json()
    assert body["object"] == "text_completion"
    assert body["id"].startswith("cmpl-")
    choice = body["choices"][0]
    assert choice["text"] == "echo: w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11 w12 w13"
    assert choice["finish_reason"] == "length"
    assert body["usage"] == {"prompt_tokens": 40, "completion_tokens": 16, "total_tokens": 56}


def test_models_health_and_version(double: VLLMDouble) -> None:
    models = call("GET", f"{double.base_url}/models").json()
    assert models["object"] == "list"
    assert [model["id"] for model in models["data"]] == ["double-model"]
    health = call("GET", f"{double.url}/health")
    assert (health.status, health.text) == (200, "")
    assert call("GET", f"{double.url}/version").json() == {"version": "0.0.0+double"}


def test_several_served_names() -> None:
    with VLLMDouble(["a", "b"]) as double:
        assert [m["id"] for m in call("GET", f"{double.base_url}/models").json()["data"]] == ["a", "b"]
        reply = call("POST", f"{double.base_url}/completions", {"model": "b", "prompt": "x"})
        assert reply.json()["model"] == "b"


def test_unknown_model_is_404_with_openai_error(double: VLLMDouble) -> None:
    reply = call("POST", f"{double.base_url}/chat/completions", {"model": "nope", "messages": CHAT})
    assert reply.status == 404
    assert reply.json() == {
        "error": {"message": "The model `nope` does not exist.", "type": "NotFoundError", "param": "model", "code": 404}
    }
    assert call("POST", f"{double.url}/tokenize", {"model": "nope", "prompt": "x"}).status == 404


def test_bad_requests_are_400(double: VLLMDouble) -> None:
    url = f"{double.base_url}/chat/completions"
    assert call("POST", url, {"messages": []}).status == 400
    assert call("POST", url, {"messages": CHAT, "n": 2}).status == 400
    assert call("POST", url, {"messages": CHAT, "max_tokens": 0}).status == 400
    too_long = call("POST", url, {"messages": CHAT, "max_tokens": 2_000_000})
    assert too_long.status == 400
    assert "maximum context length" in too_long.json()["error"]["message"]


# --- tokens -----------------------------------------------------------------------------------------------


def test_tokenize_messages_equals_chat_prompt_tokens(double: VLLMDouble) -> None:
    usage = chat(double).json()["usage"]
    tokenized = call("POST", f"{double.url}/tokenize", {"model": "double-model", "messages": CHAT}).json()
    assert tokenized["count"] == usage["prompt_tokens"] == len(tokenized["tokens"])
    assert tokenized["max_model_len"] == double.knobs.max_model_len
    without = {"model": "double-model", "messages": CHAT, "add_generation_prompt": False}
    assert call("POST", f"{double.url}/tokenize", without).json()["count"] == usage["prompt_tokens"] - 5


def test_tokenize_prompt_equals_completion_prompt_tokens(double: VLLMDouble) -> None:
    prompt = "Hi, you! Ünïcode words_and_digits 42."
    usage = call("POST", f"{double.base_url}/completions", {"prompt": prompt}).json()["usage"]
    tokenized = call("POST", f"{double.url}/tokenize", {"prompt": prompt, "return_token_strs": True}).json()
    assert tokenized["count"] == usage["prompt_tokens"] == 8
    assert tokenized["token_strs"][:4] == ["Hi", ",", "you", "!"]
    again = call("POST", f"{double.url}/tokenize", {"prompt": prompt}).json()
    assert again["tokens"] == tokenized["tokens"]


def test_max_tokens_truncates_with_length(double: VLLMDouble) -> None:
    body = chat(double, max_tokens=3).json()
    assert body["choices"][0]["message"]["content"] == "echo: What"
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 3
    exact = chat(double, max_tokens=8).json()
    assert exact["choices"][0]["finish_reason"] == "stop"


def test_stop_strings_cut_the_answer(double: VLLMDouble) -> None:
    body = chat(double, stop=["+"]).json()
    assert body["choices"][0]["message"]["content"] == "echo: What is 2"
    assert body["choices"][0]["finish_reason"] == "stop"


@given(st.text(max_size=60), st.integers(min_value=1, max_value=20))
def test_generation_pieces_rejoin_and_respect_max_tokens(text: str, max_tokens: int) -> None:
    generation = generate(text, max_tokens, ())
    assert "".join(generation.pieces()) == generation.text
    assert generation.completion_tokens == count_tokens(generation.text) <= max_tokens
    assert (generation.finish_reason == "length") == (count_tokens(text) > max_tokens)


# --- answers --------------------------------------------------------------------------------------------


def test_rules_then_hook_then_echo() -> None:
    rules: list[RuleSpec] = [(r"2\+2", "4"), Rule(re.compile(r"capital of (\w+)"), lambda m: f"capital: {m.group(1)}")]

    def hook(body: Mapping[str, Any]) -> str | None:
        return "hooked" if body.get("temperature") == 1.5 else None

    with VLLMDouble(rules=rules, answer=hook) as double:
        assert chat(double).json()["choices"][0]["message"]["content"] == "4"
        france = [{"role": "user", "content": "What is the capital of France?"}]
        reply = call("POST", f"{double.base_url}/chat/completions", {"messages": france})
        assert reply.json()["choices"][0]["message"]["content"] == "capital: France"
        other = [{"role": "user", "content": "hello"}]
        hooked = call("POST", f"{double.base_url}/chat/completions", {"messages": other, "temperature": 1.5})
        assert hooked.json()["choices"][0]["message"]["content"] == "hooked"
        echoed = call("POST", f"{double.base_url}/chat/completions", {"messages": other})
        assert echoed.json()["choices"][0]["message"]["content"] == "echo: hello"


def test_huge_output_returns_a_megabyte() -> None:
    with VLLMDouble(huge_output=1_000_000) as double:
        body = chat(double, max_tokens=None).json()
    assert len(body["choices"][0]["message"]["content"]) == 1_000_000
    assert body["usage"]["completion_tokens"] == count_tokens(huge_text(1_000_000))


# --- streaming ------------------------------------------------------------------------------------------


def test_streaming_chat_sends_usage_last_then_done(double: VLLMDouble) -> None:
    plain = chat(double).json()
    reply = chat(double, stream=True, stream_options={"include_usage": True})
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/event-stream")
    events = sse_events(reply.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    content = "".join(chunk["choices"][0]["delta"].get("content", "") for chunk in chunks[:-1])
    assert content == plain["choices"][0]["message"]["content"]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == plain["usage"]


def test_streaming_completion_without_usage(double: VLLMDouble) -> None:
    reply = call("POST", f"{double.base_url}/completions", {"prompt": "a b c", "stream": True, "max_tokens": 2})
    chunks = [json.loads(event) for event in sse_events(reply.text)[:-1]]
    assert "".join(chunk["choices"][0]["text"] for chunk in chunks) == "echo:"
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert all("usage" not in chunk for chunk in chunks)
    assert double.totals.completion_tokens == 2


def test_streaming_paces_tokens_with_token_latency() -> None:
    with VLLMDouble(token_latency=0.02) as double:
        started = time.perf_counter()
        reply = chat(double, stream=True)
        elapsed = time.perf_counter() - started
    assert sse_events(reply.text)[-1] == "[DONE]"
    assert elapsed >= 8 * 0.02


# --- capacity and latency -------------------------------------------------------------------------------


async def _metric(session: aiohttp.ClientSession, url: str, name: str) -> float:
    async with session.get(f"{url}/metrics") as response:
        text = await response.text()
    match = re.search(rf"^{re.escape(name)}\{{[^}}]*\}} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{name} missing from /metrics"
    return float(match.group(1))


def test_capacity_queues_requests_beyond_the_batch() -> None:
    async def scenario(double: VLLMDouble) -> tuple[list[float], float, float, float]:
        async with aiohttp.ClientSession() as session:

            async def one() -> float:
                async with session.post(f"{double.base_url}/completions", json={"prompt": "x"}) as response:
                    assert response.status == 200
                    await response.read()
                return time.perf_counter()

            started = time.perf_counter()
            tasks = [asyncio.create_task(one()) for _ in range(6)]
            while double.num_waiting < 4:
                await asyncio.sleep(0.01)
            running = await _metric(session, double.url, "vllm:num_requests_running")
            waiting = await _metric(session, double.url, "vllm:num_requests_waiting")
            done = await asyncio.gather(*tasks)
            return [finish - started for finish in done], running, waiting, time.perf_counter() - started

    with VLLMDouble(latency=0.2, capacity=2) as double:
        finishes, running, waiting, elapsed = asyncio.run(scenario(double))
        assert double.num_waiting == double.num_running == 0
    assert (running, waiting) == (2.0, 4.0)
    assert elapsed >= 0.6  # three batches of 0.2 s; a lower bound only, sleeping is never faster
    assert sorted(finishes)[2] >= 0.4


def test_raising_capacity_at_runtime_lets_the_queue_in() -> None:
    async def scenario(double: VLLMDouble) -> None:
        async with aiohttp.ClientSession() as session:

            async def one() -> None:
                async with session.post(f"{double.base_url}/completions", json={"prompt": "x"}) as response:
                    assert response.status == 200

            tasks = [asyncio.create_task(one()) for _ in range(3)]
            while double.num_waiting < 2:
                await asyncio.sleep(0.01)
            double.set(capacity=3)
            await asyncio.sleep(0.05)
            assert (double.num_running, double.num_waiting) == (3, 0)
            double.set(latency=0.0)
            await asyncio.gather(*tasks)

    with VLLMDouble(latency=0.5, capacity=1) as double:
        asyncio.run(scenario(double))


def test_latency_forms_are_seeded_or_computed() -> None:
    state = State(["m"], VLLMDouble(latency=(0.1, 0.3)).knobs, seed=3)
    draws = [state.latency(state.knobs, {}) for _ in range(5)]
    assert all(0.1 <= draw <= 0.3 for draw in draws)
    again = State(["m"], state.knobs, seed=3)
    assert [again.latency(again.knobs, {}) for _ in range(5)] == draws
    computed = State(["m"], VLLMDouble(latency=lambda body: body["max_tokens"] / 100).knobs)
    assert computed.latency(computed.knobs, {"max_tokens": 5}) == 0.05


# --- faults ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_status_faults_answer_an_openai_error(status: int) -> None:
    with VLLMDouble(faults=[status]) as double:
        reply = chat(double)
        assert reply.status == status
        assert reply.json()["error"]["code"] == status
        assert "Retry-After" not in reply.headers
        assert chat(double).status == 200
        assert [entry.fault for entry in double.requests] == [str(status), None]
        assert double.totals.requests == 1


def test_retry_after_header() -> None:
    with VLLMDouble(faults=["429:3", Fault(503, retry_after=7)]) as double:
        first, second = chat(double), chat(double)
    assert (first.status, first.headers["Retry-After"]) == (429, "3")
    assert (second.status, second.headers["Retry-After"]) == (503, "7")


def test_disconnect_fault_closes_without_response() -> None:
    with VLLMDouble(faults=["disconnect"]) as double:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            chat(double)
        assert chat(double).status == 200


def test_hang_fault_never_answers() -> None:
    with VLLMDouble(faults=["hang"]) as double:
        with pytest.raises(asyncio.TimeoutError):
            call("POST", f"{double.base_url}/completions", {"prompt": "x"}, timeout=0.3)
        assert chat(double).status == 200
        assert double.num_running == 0


def test_malformed_fault_is_200_with_invalid_json() -> None:
    with VLLMDouble(faults=["malformed", "malformed"]) as double:
        reply = chat(double)
        streamed = chat(double, stream=True)
    assert reply.status == 200
    with pytest.raises(json.JSONDecodeError):
        reply.json()
    assert streamed.status == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(sse_events(streamed.text)[0])


def test_fault_script_is_consumed_in_order_and_replaceable() -> None:
    with VLLMDouble(faults=["503", "ok", "500"]) as double:
        assert [chat(double).status for _ in range(4)] == [503, 200, 500, 200]
        double.set(faults=["502"])
        assert [chat(double).status for _ in range(2)] == [502, 200]
        assert call("GET", f"{double.url}/health").status == 200  # faults strike generation requests only


def test_fault_rate_is_seeded() -> None:
    def statuses() -> list[int]:
        with VLLMDouble(fault_rate=0.5, fault_kinds=["503", "429:1"], seed=11) as double:
            return [chat(double).status for _ in range(30)]

    first = statuses()
    assert first == statuses()
    assert {200, 503, 429} == set(first)


def test_fault_spec_errors_name_the_culprit() -> None:
    with pytest.raises(ValueError, match="unknown fault kind 'explode'"):
        Fault.parse("explode")
    with pytest.raises(ValueError, match="retry_after only applies"):
        Fault.parse("hang:3")
    with pytest.raises(TypeError, match="unknown vLLM double knob"):
        VLLMDouble().set(latnecy=1.0)  # type: ignore[call-arg]


# --- auth, log, metrics, lifecycle ----------------------------------------------------------------------


def test_api_key_guards_v1_routes_only() -> None:
    with VLLMDouble(api_key="sekret") as double:
        assert chat(double).status == 401
        assert call("GET", f"{double.base_url}/models", headers={"Authorization": "Bearer wrong"}).status == 401
        good = call("GET", f"{double.base_url}/models", headers={"Authorization": "Bearer sekret"})
        assert good.status == 200
        assert call("GET", f"{double.url}/health").status == 200
        assert call("GET", f"{double.url}/metrics").status == 200
        assert double.requests[2].headers["Authorization"] == "<redacted>"


def test_request_log_and_reset(double: VLLMDouble) -> None:
    before = time.time()
    chat(double, max_tokens=5)
    call("GET", f"{double.url}/health")
    first, second = double.requests
    assert (first.method, first.path, first.body["max_tokens"]) == ("POST", "/v1/chat/completions", 5)
    assert (second.path, second.body) == ("/health", None)
    assert before <= first.timestamp <= second.timestamp
    assert double.totals.requests == 1
    double.reset()
    assert double.requests == []
    assert double.totals.prompt_tokens == 0


def test_metrics_counters_equal_totals(double: VLLMDouble) -> None:
    chat(double)
    chat(double, max_tokens=2)
    call("POST", f"{double.base_url}/completions", {"prompt": "one two three"})

    async def read() -> dict[str, float]:
        async with aiohttp.ClientSession() as session:
            names = ["vllm:prompt_tokens_total", "vllm:generation_tokens_total", "vllm:num_requests_running"]
            return {name: await _metric(session, double.url, name) for name in names}

    metrics = asyncio.run(read())
    totals = double.totals
    assert metrics["vllm:prompt_tokens_total"] == totals.prompt_tokens > 0
    assert metrics["vllm:generation_tokens_total"] == totals.completion_tokens > 0
    assert metrics["vllm:num_requests_running"] == 0
    text = call("GET", f"{double.url}/metrics").text
    assert 'vllm:request_success_total{engine="0",finished_reason="stop",model_name="double-model"} 2.0' in text
    assert 'vllm:request_success_total{engine="0",finished_reason="length",model_name="double-model"} 1.0' in text


def test_stop_and_start_on_the_same_port(double: VLLMDouble) -> None:
    port = double.port
    double.stop()
    assert not double.running
    with pytest.raises(aiohttp.ClientConnectorError):
        call("GET", f"{double.url}/health")
    double.start()
    assert double.port == port
    assert call("GET", f"{double.url}/health").status == 200


def test_stop_cancels_hung_requests() -> None:
    async def scenario(double: VLLMDouble) -> None:
        async with aiohttp.ClientSession() as session:
            hung = asyncio.create_task(session.post(f"{double.base_url}/completions", json={"prompt": "x"}))
            while not double.requests:
                await asyncio.sleep(0.01)
            await asyncio.to_thread(double.stop)
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await hung

    with VLLMDouble(faults=["hang"]) as double:
        asyncio.run(scenario(double))


# --- pytest fixture and subprocess CLI ------------------------------------------------------------------


def test_pytest_fixture_takes_knobs_from_its_marker(pytester: pytest.Pytester) -> None:
    pytester.syspathinsert(REPO_ROOT)
    pytester.makeconftest('pytest_plugins = ["fixtures.pytest_vllm_double"]')
    pytester.makepyfile(
        """
        import pytest

        def test_default(vllm_double):
            assert vllm_double.running and vllm_double.base_url.endswith("/v1")

        @pytest.mark.vllm_double(model="m2", capacity=3)
        def test_marked(vllm_double):
            assert vllm_double.models == ("m2",)
            assert vllm_double.knobs.capacity == 3
        """
    )
    pytester.runpytest("--strict-markers", "-p", "no:cacheprovider").assert_outcomes(passed=2)


@pytest.fixture
def cli_double() -> Iterator[tuple[subprocess.Popen[str], str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "fixtures.vllm_double", "--port", "0", "--model", "bench-model"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("READY http://127.0.0.1:"), line
        yield process, line.split()[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def test_cli_prints_ready_serves_and_stops_on_sigterm(cli_double: tuple[subprocess.Popen[str], str]) -> None:
    process, base_url = cli_double
    assert base_url.endswith("/v1")
    reply = call("POST", f"{base_url}/completions", {"model": "bench-model", "prompt": "hi"})
    assert reply.json()["choices"][0]["text"] == "echo: hi"
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_cli_serves_2000_concurrent_requests(cli_double: tuple[subprocess.Popen[str], str]) -> None:
    """2,000 chat requests at concurrency 64 all get answers (bench/dispatch.py measures the rate)."""
    _, base_url = cli_double
    body = {"model": "bench-model", "messages": CHAT, "max_tokens": 32}

    async def run() -> tuple[list[int], float]:
        limit = asyncio.Semaphore(64)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:

            async def one() -> int:
                async with limit, session.post(f"{base_url}/chat/completions", json=body) as response:
                    await response.read()
                    return response.status

            started = time.perf_counter()
            statuses = await asyncio.gather(*(one() for _ in range(2000)))
            return statuses, time.perf_counter() - started

    statuses, _ = asyncio.run(run())
    assert statuses == [200] * 2000
