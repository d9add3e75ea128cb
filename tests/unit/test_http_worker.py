"""The HTTP worker process: requests leave the pytest process through it, and its failures stay classified."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixtures.vllm_double import VLLMDouble
from helm_eval._http import ConnectionLost, NotConnected, Reply, WorkerTransport, without_key
from helm_eval._http._frames import REPLY, REQUEST, Frame, FrameReader, encode
from helm_eval.pipeline import Pipeline, RunSettings
from tests.conftest import word_suite

T = TypeVar("T")
CHAT = json.dumps({"model": "double-model", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}).encode()
JSON = {"Content-Type": "application/json"}


def with_worker(body: Callable[[WorkerTransport], Awaitable[T]]) -> T:
    async def main() -> T:
        worker = WorkerTransport()
        worker.spawn()
        try:
            return await body(worker)
        finally:
            await worker.close()

    return asyncio.run(main())


@given(st.lists(st.tuples(st.integers(0, 2**32 - 1), st.binary(max_size=300), st.text(max_size=50)), max_size=6),
       st.integers(1, 64))  # fmt: skip
def test_frames_arrive_whole_however_the_pipe_splits_them(frames: list[tuple[int, bytes, str]], chunk: int) -> None:
    stream = b"".join(encode(i, REPLY, [200, meta], body) for i, body, meta in frames)
    reader = FrameReader()
    received: list[Frame] = []
    for start in range(0, len(stream), chunk):
        received.extend(reader.feed(stream[start : start + chunk]))
    assert received == [Frame(i, REPLY, [200, meta], body) for i, body, meta in frames]


def test_a_request_goes_out_through_the_worker_and_its_reply_comes_back_as_sent(vllm_double: VLLMDouble) -> None:
    async def body(worker: WorkerTransport) -> tuple[Reply, Reply]:
        chat = await worker.request("POST", f"{vllm_double.base_url}/chat/completions", JSON, CHAT, 10.0)
        models = await worker.request("GET", f"{vllm_double.base_url}/models", {}, None, 10.0)
        return chat, models

    chat, models = with_worker(body)
    assert chat.status == 200
    assert json.loads(chat.body)["usage"]["completion_tokens"] > 0
    assert [m["id"] for m in json.loads(models.body)["data"]] == ["double-model"]
    sent = [r for r in vllm_double.requests if r.path.endswith("/chat/completions")]
    assert len(sent) == 1
    assert sent[0].body["messages"] == [{"role": "user", "content": "hi"}]


@pytest.mark.vllm_double(faults=["429:7"])
def test_an_error_status_and_its_retry_after_reach_the_client(vllm_double: VLLMDouble) -> None:
    reply = with_worker(lambda w: w.request("POST", f"{vllm_double.base_url}/chat/completions", JSON, CHAT, 10.0))
    assert reply.status == 429
    assert reply.retry_after == "7"


def test_a_closed_port_is_not_connected_not_lost() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: the connection is refused
        with pytest.raises(NotConnected):
            with_worker(lambda w: w.request("GET", f"http://127.0.0.1:{port}/v1/models", {}, None, 5.0))


@pytest.mark.vllm_double(faults=["disconnect"])
def test_a_dropped_connection_is_lost(vllm_double: VLLMDouble) -> None:
    with pytest.raises(ConnectionLost):
        with_worker(lambda w: w.request("POST", f"{vllm_double.base_url}/chat/completions", JSON, CHAT, 5.0))


@pytest.mark.vllm_double(faults=["hang"])
def test_the_request_timeout_holds_in_the_worker(vllm_double: VLLMDouble) -> None:
    with pytest.raises(TimeoutError):
        with_worker(lambda w: w.request("POST", f"{vllm_double.base_url}/chat/completions", JSON, CHAT, 0.5))


@pytest.mark.vllm_double(faults=["hang"])
def test_a_worker_that_dies_fails_what_it_held_and_the_next_request_starts_a_new_one(
    vllm_double: VLLMDouble,
) -> None:
    url = f"{vllm_double.base_url}/chat/completions"

    async def body(worker: WorkerTransport) -> tuple[str, Reply]:
        held = asyncio.ensure_future(worker.request("POST", url, JSON, CHAT, 30.0))
        while not vllm_double.requests:  # the worker has sent it: the double is holding it
            await asyncio.sleep(0.01)
        assert worker._proc is not None
        os.kill(worker._proc.pid, signal.SIGKILL)
        with pytest.raises(ConnectionLost) as lost:
            await held
        return str(lost.value), await worker.request("POST", url, JSON, CHAT, 10.0)

    reason, reply = with_worker(body)
    assert "HTTP worker process exited" in reason
    assert reply.status == 200


@pytest.mark.vllm_double(latency=5.0)
def test_a_cancelled_request_leaves_the_worker_serving_others(vllm_double: VLLMDouble) -> None:
    url = f"{vllm_double.base_url}/chat/completions"

    async def body(worker: WorkerTransport) -> Reply:
        slow = asyncio.ensure_future(worker.request("POST", url, JSON, CHAT, 30.0))
        while not vllm_double.requests:
            await asyncio.sleep(0.01)
        slow.cancel()
        vllm_double.set(latency=0.0)
        return await worker.request("GET", f"{vllm_double.base_url}/models", {}, None, 10.0)

    assert with_worker(body).status == 200


def test_a_frame_the_worker_cannot_serve_is_answered_not_dropped() -> None:
    async def body(worker: WorkerTransport) -> Reply:
        await worker._connect()
        assert worker._out is not None
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        worker._pending[99] = future
        worker._out.write(encode(99, REQUEST, ["GET", "not a url", {}, 5.0]))
        return await asyncio.wait_for(future, 10)

    with pytest.raises(ConnectionLost, match="not%20a%20url"):
        with_worker(body)


def test_pytest_itself_imports_neither_the_http_client_nor_jinja_for_plain_templates(
    pytester: pytest.Pytester, vllm_double: VLLMDouble
) -> None:
    pytester.makefile(".yaml", suite=word_suite("hello"))  # its prompt is "Say {{word}}"
    pytester.makeconftest(
        "import sys\n\ndef pytest_sessionfinish(session):\n"
        "    print('loaded:', sorted(m for m in ('aiohttp', 'jinja2') if m in sys.modules))\n"
    )
    result = pytester.runpytest_subprocess(
        "--helm-eval", "--helm-eval-endpoint", vllm_double.base_url, "suite.yaml", "-s", "-p", "no:deepeval"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*loaded: []*"])
    assert len([r for r in vllm_double.requests if r.path.endswith("/chat/completions")]) == 1


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is gone for our purpose
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


def _exits(pid: int, within: float = 10.0) -> bool:
    """The process exits within ``within`` seconds (a closed worker exits on its own, unwaited for)."""
    deadline = time.monotonic() + within
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_a_worker_started_ahead_and_never_used_stops_with_the_pipeline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "helm-eval.yaml").write_text("endpoints:\n  local: {url: 'http://127.0.0.1:9/v1'}\n")
    monkeypatch.chdir(tmp_path)
    with Pipeline(RunSettings.load(tmp_path)) as pipeline:
        pipeline.warm_up()  # the endpoint is down: the probe fails, nothing is raised before a call is planned
        assert pipeline.connection.started is not None
        worker = pipeline.connection.started.transport
        assert isinstance(worker, WorkerTransport)
        assert worker._proc is not None
        pid = worker._proc.pid
        assert _alive(pid)
    assert _exits(pid)


def test_the_worker_of_a_run_stops_with_the_run(vllm_double: VLLMDouble, tmp_path: Path) -> None:
    async def body(worker: WorkerTransport) -> int:
        await worker.request("GET", f"{vllm_double.base_url}/models", {}, None, 10.0)
        assert worker._proc is not None
        return worker._proc.pid

    pid = with_worker(body)
    assert _exits(pid)


def test_a_closed_transport_starts_no_new_worker(vllm_double: VLLMDouble) -> None:
    async def main() -> None:
        worker = WorkerTransport()
        worker.spawn()
        await worker.request("GET", f"{vllm_double.base_url}/models", {}, None, 10.0)
        await worker.close()
        with pytest.raises(NotConnected, match="closed"):
            await worker.request("GET", f"{vllm_double.base_url}/models", {}, None, 10.0)
        assert worker._proc is None

    asyncio.run(main())


def test_a_failure_text_never_carries_the_request_key() -> None:
    headers = {"Authorization": "Bearer sk-live-0123456789"}
    shown = without_key("bad header value sk-live-0123456789 here", headers)
    assert shown == "bad header value [redacted: 18 chars] here"
    assert without_key("refused", headers) == "refused"


_CHILD_WORKERS = """
import os
import pytest

def _workers():
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                args = cmdline.read().split(b"\\0")
        except OSError:
            continue
        if ppid == os.getpid() and b"helm_eval._http" in args:
            found.append(pid)
    return found

@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    print("workers before helm-eval's session:", len(_workers()))
"""


@pytest.mark.parametrize(("flags", "started"), [((), 1), (("--collect-only",), 0)], ids=["run", "collect-only"])
def test_the_http_worker_starts_as_pytest_starts_unless_nothing_will_be_sent(
    pytester: pytest.Pytester, vllm_double: VLLMDouble, flags: tuple[str, ...], started: int
) -> None:
    pytester.makefile(".yaml", suite=word_suite("hello"))
    pytester.makeconftest(_CHILD_WORKERS)
    result = pytester.runpytest_subprocess(
        "--helm-eval", "--helm-eval-endpoint", vllm_double.base_url, "suite.yaml", "-s", "-p", "no:deepeval", *flags
    )
    result.stdout.fnmatch_lines([f"*workers before helm-eval's session: {started}*"])
    assert result.ret == 0
