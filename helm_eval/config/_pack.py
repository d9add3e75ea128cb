"""The pack file format: a ``defaultTest`` a suite pulls in with ``include:``.

A pack carries checks, not cases: assertions (prepended to the including suite's own), sampling options (the
suite's win), tags, metadata and input-guardrail allowances. It has no prompts and no tests.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from helm_eval.config._suite import AssertionSpec, GuardrailsSpec, Options, TestSpec, _Strict

PACK_PREFIX = "helm-eval:"
"""Prefix of an ``include`` reference to a pack shipped inside helm-eval (``helm-eval:guardrails``)."""


class PackAssertionSpec(AssertionSpec):
    """An assertion of a pack, optionally applied only to the tests that set certain vars."""

    requires_vars: list[str] = Field(default_factory=list)
    """Apply this assertion only to tests whose ``vars`` set all of these names (e.g. ``[canary]``); others skip it."""


class PackDefaultsSpec(_Strict):
    """What a pack adds under the including suite's ``defaultTest``."""

    assert_: list[PackAssertionSpec] = Field(default_factory=list, alias="assert")
    """Assertions prepended to every test of the including suite (before the suite's own ``defaultTest``)."""
    options: Options | None = None
    """Sampling parameters; the suite's ``defaultTest.options`` and each test's ``options`` win."""
    tags: list[str] = Field(default_factory=list)
    """Tags added to every test of the including suite."""
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Free-form data; the suite's own keys win."""
    guardrails: GuardrailsSpec | None = None
    """Input-guardrail allowances added to the suite's (``{inputs: {allow: [...]}}``)."""

    @field_validator("tags")
    @classmethod
    def _tags_are_names(cls, tags: list[str]) -> list[str]:
        return TestSpec._tags_are_names(tags)


class PackSpec(_Strict):
    """A pack file: a description and the defaults it merges into every test of a suite that includes it."""

    description: str | None = None
    """What the pack checks."""
    defaultTest: PackDefaultsSpec
    """The defaults merged under the including suite's ``defaultTest``."""
    version: int | None = None
    """Format version (optional; currently 1)."""
