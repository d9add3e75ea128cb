"""Sending model calls: the OpenAI-compatible client and the background dispatch loop."""

from helm_eval.dispatch._breaker import DEAD_AFTER, Breaker
from helm_eval.dispatch._cache import CACHE_VERSION, CacheStats, Pruned, ResponseCache, cache_key
from helm_eval.dispatch._client import Endpoint, build_payload, list_models, parse_retry_after
from helm_eval.dispatch._dispatcher import Dispatcher, OnFinished, retarget
from helm_eval.dispatch._embeddings import EMBEDDING
from helm_eval.dispatch._limit import AdaptiveLimit, QueueReading, parse_queue

__all__ = [
    "CACHE_VERSION",
    "DEAD_AFTER",
    "EMBEDDING",
    "AdaptiveLimit",
    "Breaker",
    "CacheStats",
    "Dispatcher",
    "Endpoint",
    "OnFinished",
    "Pruned",
    "QueueReading",
    "ResponseCache",
    "build_payload",
    "cache_key",
    "list_models",
    "parse_queue",
    "parse_retry_after",
    "retarget",
]
