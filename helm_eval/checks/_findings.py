"""What a guardrail detector reports: a ``Finding`` that never shows the value it found, and allow-lists.

Detectors for personal data and secrets are shared by the output checks (``pii``, ``secrets``) and the input
guardrails (``scan_inputs``); both describe a finding by its kind, where it is, and a redacted form of the value
(first and last two characters and the length), never the value itself.
"""

from __future__ import annotations

import bisect
import contextlib
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from helm_eval._text import inert


@dataclass(frozen=True, slots=True)
class Finding:
    """One match of a detector; ``value`` is kept for allow-lists and is never part of any message."""

    family: str
    """Detector family: ``pii`` or ``secrets``."""
    kind: str
    """Entity type, e.g. ``email``, ``credit-card``, ``aws-access-key-id``."""
    start: int
    """Character offset of the match in the scanned text."""
    end: int
    value: str = field(repr=False)
    where: str = ""
    """Which text was scanned when it was not the output, e.g. ``vars.user`` or ``messages[1]``."""

    @property
    def redacted(self) -> str:
        """The value with all but its first and last two characters hidden, and its length."""
        return redact(self.value)

    def describe(self) -> str:
        """``email 'jo…om' (17 chars) at char 12`` (with ``in vars.x`` when ``where`` is set)."""
        place = f"in {self.where} " if self.where else ""
        return f"{self.kind} {self.redacted} {place}at char {self.start}"


def redact(value: str) -> str:
    """``'AK…LE' (20 chars)``: enough to recognise a value you know, never enough to use one you don't."""
    if len(value) < 10:
        return f"<{len(value)} chars>"
    return f"'{inert(value[:2])}…{inert(value[-2:])}' ({len(value)} chars)"


def summary(findings: Sequence[Finding], limit: int = 5) -> str:
    """Findings as one line for a reason or an error: at most ``limit`` shown, the rest counted."""
    shown = "; ".join(f.describe() for f in findings[:limit])
    more = f"; and {len(findings) - limit} more" if len(findings) > limit else ""
    return shown + more


# -- allow-lists ----------------------------------------------------------------------------------------------


class AllowList:
    """Literal strings or regular expressions; a finding is allowed when one equals or fully matches its value."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.literals: set[str] = set()
        self.patterns: list[re.Pattern[str]] = []
        for entry in entries:
            self.literals.add(entry)
            with contextlib.suppress(re.error):  # not a regular expression: a literal only
                self.patterns.append(re.compile(entry))

    def allows(self, value: str) -> bool:
        """True when ``value`` is listed literally or fully matches a listed expression."""
        return value in self.literals or any(p.fullmatch(value) for p in self.patterns)


def strings_option(options: dict[str, Any], key: str) -> list[str]:
    """``options[key]`` as a list of strings (a single string is a list of one); ``ValueError`` otherwise."""
    raw = options.get(key, [])
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise ValueError(f"{key} must be a list of strings")
    return list(raw)


def check_options(value: Any, allowed_keys: set[str], kinds: Sequence[str], kinds_key: str) -> dict[str, Any]:
    """Validate an optional ``value`` mapping of a guardrail check and return it (``{}`` for ``None``)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"value must be a mapping with any of: {', '.join(sorted(allowed_keys))}")
    unknown = set(value) - allowed_keys
    if unknown:
        raise ValueError(f"unknown key {sorted(unknown)[0]!r}; known keys: {', '.join(sorted(allowed_keys))}")
    for name in strings_option(value, kinds_key):
        if name not in kinds:
            singular = {"entities": "entity"}.get(kinds_key, kinds_key.rstrip("s"))
            raise ValueError(f"unknown {singular} {name!r}; known: {', '.join(kinds)}")
    for entry in strings_option(value, "allow"):
        if not entry:
            raise ValueError("allow entries must not be empty")
    return value


# -- shared helpers for detectors -----------------------------------------------------------------------------

Detector = Callable[[str], Iterator[Finding]]


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text``'s character distribution."""
    if not text:
        return 0.0
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in Counter(text).values())


def drop_overlaps(findings: Iterable[Finding]) -> list[Finding]:
    """Findings sorted by position, each span reported once (the first detector to claim it wins)."""
    kept: list[Finding] = []
    spans: dict[str, list[tuple[int, int]]] = {}  # per ``where``: kept spans, sorted and disjoint
    for finding in findings:
        taken = spans.setdefault(finding.where, [])
        index = bisect.bisect_left(taken, (finding.start, finding.end))
        before = taken[index - 1] if index > 0 else None
        after = taken[index] if index < len(taken) else None
        if (before is not None and before[1] > finding.start) or (after is not None and after[0] < finding.end):
            continue
        taken.insert(index, (finding.start, finding.end))
        kept.append(finding)
    return sorted(kept, key=lambda f: (f.where, f.start))
