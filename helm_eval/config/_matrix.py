"""The model matrix: which models a suite's cases run against, and how promptfoo provider ids map to endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ModelSpec(_Strict):
    """One entry of a model matrix: a model, on a configured endpoint or the default one."""

    model: str | None = Field(default=None, min_length=1)
    """Model name to request (default: the endpoint's)."""
    endpoint: str | None = Field(default=None, min_length=1)
    """Configured endpoint to send to (default: the default endpoint)."""
    label: str | None = Field(default=None, min_length=1)
    """Name in node ids and the summary (default: the model, else the endpoint)."""


MatrixEntry = str | ModelSpec
"""A matrix entry: a model name on the default endpoint, or a ``ModelSpec``."""


class ProviderConfig(_Strict):
    """The part of a promptfoo provider's ``config`` helm-eval honours."""

    apiBaseUrl: str | None = None
    """Base URL of an OpenAI-compatible server: the configured endpoint with that ``url`` runs the provider."""
    apiKey: str | None = None
    """Never sent: the endpoint's ``api_key_env`` names the key."""
    apiKeyEnvar: str | None = None
    """Never read: the endpoint's ``api_key_env`` names the key."""
    temperature: float | None = None
    """Sampling temperature for this provider's column."""
    max_tokens: int | None = None
    """Most completion tokens for this provider's column."""
    top_p: float | None = None
    """Nucleus sampling mass for this provider's column."""
    seed: int | None = None
    """Sampling seed for this provider's column."""
    stop: str | list[str] | None = None
    """Stop sequences for this provider's column."""
    presence_penalty: float | None = None
    """Presence penalty for this provider's column."""
    frequency_penalty: float | None = None
    """Frequency penalty for this provider's column."""


class ProviderSpec(_Strict):
    """A promptfoo provider: one column of the model matrix."""

    id: str
    """promptfoo provider id, e.g. ``openai:chat:qwen3-8b``; mapped by helm-eval.yaml's ``provider_map``."""
    label: str | None = None
    """Name in node ids and the summary (and a ``provider_map`` key)."""
    config: ProviderConfig | None = None
    """Sampling parameters and ``apiBaseUrl``."""


class EvaluateOptionsSpec(_Strict):
    """promptfoo's ``evaluateOptions``: ``repeat`` is honoured, the rest is about promptfoo's own runner."""

    repeat: int | None = Field(default=None, ge=1)
    """Runs of every test (``defaultTest.repeat``); each must pass."""
    maxConcurrency: int | None = None
    """Ignored: helm-eval's concurrency is per endpoint."""
    showProgressBar: bool | None = None
    """Ignored."""
    cache: bool | None = None
    """Ignored: helm-eval's response cache is set in helm-eval.yaml."""
    generateSuggestions: bool | None = None
    """Ignored."""
