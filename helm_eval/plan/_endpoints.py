"""Resolve configured endpoints against command-line options and the environment."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from helm_eval.config import (
    DEFAULT_ENDPOINT_NAME,
    ENV_ENDPOINT,
    ENV_MODEL,
    ConfigError,
    EndpointSpec,
    ProjectConfig,
)
from helm_eval.dispatch import Endpoint


@dataclass(frozen=True, slots=True)
class Overrides:
    """Values given on the command line; ``None`` means not given."""

    endpoint: str | None = None
    model: str | None = None
    concurrency: int | None = None
    timeout: float | None = None


def resolve_endpoints(
    config: ProjectConfig, overrides: Overrides, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Endpoint], str]:
    """Endpoints by name and the default's name.

    Precedence for the default endpoint's URL and model: command line, then ``HELM_EVAL_ENDPOINT`` /
    ``HELM_EVAL_MODEL``, then the config file. API keys come only from the environment variable each endpoint
    names (``HELM_EVAL_API_KEY`` by default).
    """
    env = os.environ if environ is None else environ
    specs = dict(config.endpoints)
    default = config.default_endpoint or next(iter(specs), DEFAULT_ENDPOINT_NAME)
    url = overrides.endpoint or env.get(ENV_ENDPOINT)
    model = overrides.model or env.get(ENV_MODEL)
    if url:
        base = specs.get(default)
        specs[default] = EndpointSpec.model_validate(
            {**(base.model_dump() if base else {}), "url": url, **({"model": model} if model else {})}
        )
    elif model and default in specs:
        specs[default] = specs[default].model_copy(update={"model": model})
    if not specs:
        raise ConfigError(
            "no endpoint configured: pass --helm-eval-endpoint URL, set HELM_EVAL_ENDPOINT, "
            "or declare endpoints in helm-eval.yaml"
        )
    concurrency = overrides.concurrency or config.concurrency
    timeout = overrides.timeout or config.timeout
    endpoints = {
        name: Endpoint(
            name=name,
            base_url=spec.url.rstrip("/"),
            model=spec.model or (model if name == default else None),
            api_key=env.get(spec.api_key_env) or None,
            max_concurrency=spec.max_concurrency or concurrency,
            timeout=spec.timeout or timeout,
            revision=spec.revision,
            fallback=tuple(spec.fallback),
            adaptive=spec.adaptive,
        )
        for name, spec in specs.items()
    }
    return endpoints, default


def local_weights(endpoint: Endpoint, model: str) -> Path | None:
    """The directory a server on this machine loaded ``model`` from, as it reports it (vLLM's ``root``).

    Only a loopback endpoint counts (``--helm-eval-serve``, ``helm-eval serve``, a vLLM started beside the
    tests): a remote server's path names a directory on another machine. ``None`` for a hub id or a relative path.
    """
    root = endpoint.roots.get(model)
    if not root or not _is_loopback(urlsplit(endpoint.base_url).hostname):
        return None
    path = Path(root)
    return path if path.is_absolute() and path.is_dir() else None


def _is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
