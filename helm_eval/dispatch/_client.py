r"""The OpenAI-compatible HTTP client: one chat request with retries, backoff and Retry-After.

A response is the server's text: it is cleaned once, here, before anything else sees it. Bytes that are not
UTF-8 and lone surrogates (``"\ud800"`` in the JSON) become U+FFFD, so no report fails to encode it later.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

from helm_eval._http import ConnectionLost, NotConnected, Transport, without_key
from helm_eval._records import Call, Outcome, ToolCall
from helm_eval._text import clean_text, inert
from helm_eval.config import RESERVED_REQUEST_FIELDS
from helm_eval.dispatch._breaker import Breaker
from helm_eval.dispatch._embeddings import EMBEDDING, embedding_outcome, embedding_payload
from helm_eval.dispatch._limit import AdaptiveLimit

RETRY_STATUSES = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
BACKOFF_BASE_S = 0.25
BACKOFF_CAP_S = 20.0
RETRY_AFTER_CAP_S = 120.0
OVERLOAD_STATUSES = frozenset({429, 503})
"""Answers that say the server is overloaded: adaptive concurrency backs off."""


@dataclass(slots=True)
class Endpoint:
    """A resolved endpoint: where to send, with which key and limits."""

    name: str
    base_url: str
    model: str | None
    api_key: str | None
    max_concurrency: int
    timeout: float
    roots: dict[str, str] = field(default_factory=dict)
    """Served model name → what the server says it loaded (vLLM's ``root``: the weights' path or hub id)."""
    revision: str | None = None
    """The weights' revision the endpoint's config states; when set it is the weights' whole identity."""
    digests: dict[str, str] = field(default_factory=dict)
    """Served model name → digest of the weights directory, where helm-eval could read it (a local server)."""
    fallback: tuple[str, ...] = ()
    """Names of the endpoints that answer, in order, when this one cannot (see ``Dispatcher``)."""
    adaptive: bool = True
    """Adapt requests in flight to what the server takes (AIMD and vLLM's queue); ``False``: always the ceiling."""

    def identity(self, model: str) -> str | None:
        """The model's identity for the response cache: the served name plus the best-known weights identity.

        A stated revision, else a digest of the weights, else the path vLLM reports; ``None`` when none is known.
        """
        if self.revision:
            return f"{model}#revision={self.revision}"
        if model in self.digests:
            return f"{model}#{self.digests[model]}"
        root = self.roots.get(model)
        return f"{model}@{root}" if root else None

    def headers(self) -> dict[str, str]:
        """Request headers; the key is added here and nowhere else, so it never reaches a message."""
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


class _Fatal(Exception):
    pass


class _Malformed(_Retryable):
    pass


def backoff_delay(attempt: int, rng: random.Random) -> float:
    """Full-jitter exponential backoff for retry ``attempt`` (0-based)."""
    return rng.uniform(0, min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return max(0.0, min(seconds, RETRY_AFTER_CAP_S))


def decode_json(body: bytes) -> tuple[Any, int]:
    """A response body's JSON, with invalid UTF-8 replaced by U+FFFD, and how many characters were replaced.

    Raises ``ValueError`` when the body is not JSON. Lone surrogates inside strings are left to ``clean_text``.
    """
    text = body.decode("utf-8", "replace")
    replaced = text.count("\ufffd") - body.count("\ufffd".encode())  # a genuine U+FFFD is not a replacement
    return json.loads(text), replaced


def _error_text(status: int, body: bytes) -> str:
    detail = ""
    try:
        data, _ = decode_json(body)
        error = data.get("error", data) if isinstance(data, dict) else data
        detail = str(error.get("message", "")) if isinstance(error, dict) else str(error)
    except ValueError:
        detail = body[:200].decode("utf-8", "replace")
    # the body is the server's text, shown in reports and terminals: escape control characters
    return f"HTTP {status}" + (f": {inert(clean_text(detail[:300])[0])}" if detail else "")


def build_payload(call: Call) -> dict[str, Any]:
    """The JSON body of a chat completion request for ``call``: exactly the request its budget reserved for.

    ``extra_body`` fills in only what helm-eval does not set: it can never raise ``max_tokens``, ask for ``n``
    completions or change the model (suites are refused at load time; this holds for any other caller too).
    """
    params = dict(call.params)
    extra = {k: v for k, v in (params.pop("extra_body", None) or {}).items() if k not in RESERVED_REQUEST_FIELDS}
    return {**extra, **params, "model": call.model, "messages": list(call.messages)}


class ChatClient:
    """Sends chat completions to endpoints through one transport; lives on the dispatch loop."""

    def __init__(self, transport: Transport, retries: int, rng: random.Random | None = None) -> None:
        self._transport = transport
        self._retries = retries
        self._rng = rng or random.Random()
        self.replaced_chars = 0
        """Characters of responses replaced by U+FFFD so far (invalid UTF-8, lone surrogates)."""

    async def chat(
        self,
        endpoint: Endpoint,
        call: Call,
        slots: AbstractAsyncContextManager[Any],
        on_send: Callable[[], None] | None = None,
        breaker: Breaker | None = None,
    ) -> Outcome:
        """Send ``call``; retry transient failures; return an ``Outcome`` (with ``error`` set if it never worked).

        ``slots`` bounds requests in flight; it is released while backing off so a waiting retry does not hold
        capacity that other calls could use. An ``AdaptiveLimit`` is told of answers, overload answers and
        timeouts. Once ``breaker`` is open the call ends at once, unsent (``Outcome.unavailable``).
        """
        embedding = call.kind == EMBEDDING
        body = json.dumps(embedding_payload(call) if embedding else build_payload(call)).encode()
        url = f"{endpoint.base_url}/embeddings" if embedding else f"{endpoint.base_url}/chat/completions"
        last_error = ""
        unsettled = 0
        attempts = 0
        for attempt in range(self._retries + 1):
            retry_after: float | None = None
            timed_out = False
            async with slots:
                if breaker is not None and not breaker.allow():
                    reason = breaker.refuse(endpoint.name)
                    error = reason if attempt == 0 else f"{last_error}; {reason}"
                    return Outcome("", endpoint=endpoint.name, model=call.model, retries=attempts, error=error,
                                   unsettled_attempts=unsettled, unavailable=True)  # fmt: skip
                if on_send is not None:
                    on_send()
                attempts = attempt
                started = time.perf_counter()
                try:
                    data, replaced = await self._post(url, body, endpoint.headers(), endpoint.timeout)
                    latency_ms = (time.perf_counter() - started) * 1000
                    if embedding:
                        try:
                            outcome, cleaned = embedding_outcome(data, endpoint.name, call, latency_ms, attempt), 0
                        except ValueError as exc:
                            raise _Malformed(str(exc)) from None
                    else:
                        outcome, cleaned = _outcome(data, endpoint, call, latency_ms, attempt)
                    self.replaced_chars += replaced + cleaned
                    outcome.replaced_chars = replaced + cleaned
                    outcome.unsettled_attempts = unsettled
                    if breaker is not None:
                        breaker.succeeded()
                    if isinstance(slots, AdaptiveLimit):
                        slots.succeeded()
                    return outcome
                except _Malformed as exc:  # the server answered 200: it generated, but the usage is unreadable
                    last_error = str(exc)
                    unsettled += 1
                except _Retryable as exc:
                    last_error, retry_after = str(exc), exc.retry_after
                    if exc.status in OVERLOAD_STATUSES and isinstance(slots, AdaptiveLimit):
                        slots.overloaded()
                except _Fatal as exc:  # the server answered (4xx): alive, but this request will never work
                    if breaker is not None:
                        breaker.succeeded()
                    return Outcome("", endpoint=endpoint.name, model=call.model, retries=attempt, error=str(exc),
                                   unsettled_attempts=unsettled)  # fmt: skip
                except TimeoutError:
                    last_error = f"timed out after {endpoint.timeout:g} s"
                    unsettled += 1
                    timed_out = True
                    if isinstance(slots, AdaptiveLimit):
                        slots.overloaded()
                except NotConnected as exc:  # never connected: the server saw nothing
                    last_error = f"connection error: {exc}"
                except ConnectionLost as exc:  # connected, then lost: the server may be generating
                    last_error = f"connection error: {exc}"
                    unsettled += 1
                except BaseException:  # cancelled: a probe that never finished must not hold the breaker
                    if breaker is not None:
                        breaker.probing = False
                    raise
            # a slow server is not a dead one (vLLM queues rather than refusing): only refused or dropped
            # connections and server errors count towards declaring an endpoint down
            if breaker is not None:
                if timed_out:
                    breaker.timed_out(last_error)
                else:
                    breaker.failed(last_error)
            if attempt < self._retries:
                delay = retry_after if retry_after is not None else backoff_delay(attempt, self._rng)
                await asyncio.sleep(delay)
        return Outcome(
            "",
            endpoint=endpoint.name,
            model=call.model,
            retries=self._retries,
            error=f"{last_error} (after {self._retries + 1} attempts)",
            unsettled_attempts=unsettled,
            unavailable=True,
        )

    async def _post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[Any, int]:
        reply = await self._transport.request("POST", url, headers, body, timeout)
        if reply.status == 200:
            try:
                return decode_json(reply.body)
            except ValueError:
                raise _Malformed("malformed JSON in response") from None
        message = without_key(_error_text(reply.status, reply.body), headers)
        if reply.status in RETRY_STATUSES or reply.status >= 500:
            raise _Retryable(message, parse_retry_after(reply.retry_after), reply.status)
        raise _Fatal(message)


def _outcome(data: Any, endpoint: Endpoint, call: Call, latency_ms: float, retries: int) -> tuple[Outcome, int]:
    """The outcome of a parsed response, and how many lone surrogates its strings had (now U+FFFD)."""
    try:
        choice = data["choices"][0]
        message = choice["message"]
        text = message.get("content") or ""
        usage = data.get("usage") or {}
    except (KeyError, IndexError, TypeError, AttributeError):
        raise _Malformed("response has no choices[0].message") from None
    text, in_text = clean_text(str(text))
    model, in_model = clean_text(str(data.get("model") or call.model))
    finish_reason = choice.get("finish_reason")
    in_reason = 0
    if finish_reason is not None:
        finish_reason, in_reason = clean_text(str(finish_reason))
    tool_calls, in_tools = _tool_calls(message.get("tool_calls"))
    outcome = Outcome(
        text=text,
        tool_calls=tool_calls,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        latency_ms=latency_ms,
        endpoint=endpoint.name,
        model=model,
        retries=retries,
        finish_reason=finish_reason,
    )
    return outcome, in_text + in_model + in_reason + in_tools


def _tool_calls(raw: Any) -> tuple[tuple[ToolCall, ...], int]:
    """The tool calls of a response message, and how many lone surrogates their strings had.

    Arguments that are not JSON (a small model's half-finished call) are kept as text with an ``error``, so a
    check can say what went wrong rather than the run failing.
    """
    if not isinstance(raw, list):
        return (), 0
    calls: list[ToolCall] = []
    replaced = 0
    for item in raw:
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict):
            continue
        name, in_name = clean_text(str(function.get("name") or ""))
        arguments = function.get("arguments")
        if isinstance(arguments, dict | list):  # some servers send the object itself
            arguments = json.dumps(arguments, ensure_ascii=False)
        raw_arguments, in_args = clean_text(str(arguments or ""))
        replaced += in_name + in_args
        call_id = item.get("id")
        parsed: Any = None
        error = None
        try:
            parsed = json.loads(raw_arguments) if raw_arguments.strip() else {}
        except ValueError as exc:
            error = f"arguments are not valid JSON: {exc}"
        calls.append(ToolCall(name, parsed, raw_arguments, str(call_id) if call_id else None, error))
    return tuple(calls), replaced


async def list_models(transport: Transport, endpoint: Endpoint, timeout: float = 10.0) -> list[str]:
    """Names of the models an endpoint serves (``GET /models``); raises ``ConnectionError`` with a reason."""
    url = f"{endpoint.base_url}/models"
    try:
        reply = await transport.request("GET", url, endpoint.headers(), None, timeout)
        if reply.status != 200:
            raise ConnectionError(without_key(_error_text(reply.status, reply.body), endpoint.headers()))
        data, _ = decode_json(reply.body)
    except TimeoutError:
        raise ConnectionError(f"no answer within {timeout:g} s") from None
    except (NotConnected, ConnectionLost) as exc:
        raise ConnectionError(str(exc)) from None
    except ValueError:
        raise ConnectionError("malformed JSON from /models") from None
    models = [m for m in data.get("data", []) if isinstance(m, dict)]
    endpoint.roots = {_clean(m.get("id")): _clean(m["root"]) for m in models if m.get("root")}
    return [_clean(m.get("id")) for m in models]


def _clean(value: Any) -> str:
    return clean_text(str(value))[0]


SERVER_TOKEN_COUNTERS = ("vllm:prompt_tokens_total", "vllm:generation_tokens_total")


async def server_tokens(transport: Transport, endpoint: Endpoint, timeout: float = 5.0) -> int | None:
    """Prompt plus generation tokens the server has counted since it started; ``None`` when it does not say.

    Read from vLLM's Prometheus ``/metrics`` (``vllm:prompt_tokens_total`` + ``vllm:generation_tokens_total``).
    """
    url = f"{endpoint.base_url.removesuffix('/v1')}/metrics"
    try:
        reply = await transport.request("GET", url, endpoint.headers(), None, timeout)
    except (ConnectionError, TimeoutError):
        return None
    if reply.status != 200:
        return None
    text = reply.body.decode("utf-8", "replace")
    total, seen = 0.0, False
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in SERVER_TOKEN_COUNTERS:
            try:
                total += float(line.rsplit(" ", 1)[1])
                seen = True
            except (IndexError, ValueError):
                continue
    return int(total) if seen else None
