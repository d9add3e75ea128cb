"""The model matrix: which models a suite's cases run against, and how promptfoo provider ids map to endpoints."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_attribute_docstrings=True)


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
