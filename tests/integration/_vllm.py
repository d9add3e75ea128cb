"""Helpers for talking to the real vLLM in integration tests."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

from helm_eval.serve import VLLMServer


def http(url: str, payload: dict[str, Any] | None = None, timeout: float = 120) -> Any:
    """GET (or POST JSON) and decode the JSON answer."""
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        body = resp.read()
    return json.loads(body) if body else None


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(?P<value>\S+)$")


def metrics(server: VLLMServer) -> dict[str, float]:
    """vLLM's Prometheus counters and gauges, summed over label sets."""
    root = server.base_url.removesuffix("/v1")
    with urllib.request.urlopen(root + "/metrics", timeout=30) as resp:
        text = resp.read().decode()
    totals: dict[str, float] = {}
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            totals[match["name"]] = totals.get(match["name"], 0.0) + float(match["value"])
    return totals
