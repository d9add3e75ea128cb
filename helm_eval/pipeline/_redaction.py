"""Keeping secrets out of everything a run writes: configured API keys, and what the guardrails found.

Every text a run publishes (the run record and so every report built from it, the terminal, JUnit failure text)
passes ``Redactor.scrub`` first. It replaces each configured API key (the values of the variables the endpoints'
``api_key_env`` name), and every secret or personal-data span that a ``secrets`` or ``pii`` check of the run
found in an output, by a marker that says only how long it was. Checks themselves see the raw output.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping

from helm_eval._records import Case, Outcome
from helm_eval.checks import find_pii, find_secrets

MIN_SECRET_LENGTH = 8
"""Shorter values (``EMPTY``, ``x``) are placeholders, not secrets; scrubbing them would mangle every output."""


class Redactor:
    """The values to hide, growing as guardrails find more; thread-safe."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._ordered: list[str] = []
        self._lock = threading.Lock()
        self.add(values)

    @classmethod
    def for_keys(cls, key_vars: Iterable[str], environ: Mapping[str, str] | None = None) -> Redactor:
        """A redactor for the API keys held in the environment variables ``key_vars``."""
        env = os.environ if environ is None else environ
        return cls(env.get(name, "") for name in key_vars)

    def add(self, values: Iterable[str]) -> None:
        """Hide ``values`` from now on (too-short ones are ignored)."""
        with self._lock:
            fresh = {v for v in values if len(v) >= MIN_SECRET_LENGTH} - self._values
            if fresh:
                self._values |= fresh
                self._ordered = sorted(self._values, key=len, reverse=True)  # longest first: no partial leftovers

    def learn(self, case: Case, outcomes: Iterable[Outcome]) -> None:
        """Hide what the case's ``secrets``/``pii`` guardrails would find in its outputs."""
        families = {a.type for a in case.assertions} & {"secrets", "pii"}
        if not families:
            return
        for outcome in outcomes:
            if "secrets" in families:
                self.add(f.value for f in find_secrets(outcome.text))
            if "pii" in families:
                self.add(f.value for f in find_pii(outcome.text))

    def scrub(self, text: str) -> str:
        """``text`` with every known value replaced by ``[redacted: N chars]``."""
        for value in self._ordered:
            if value in text:
                text = text.replace(value, f"[redacted: {len(value)} chars]")
        return text

    def scrub_optional(self, text: str | None) -> str | None:
        """``scrub`` for optional fields."""
        return None if text is None else self.scrub(text)
