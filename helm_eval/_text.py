"""Making untrusted text (model output, suite text) safe to show: control characters escaped, length capped."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
"""Bidirectional formatting characters (Unicode Bidi_Control): they reorder how the text around them displays,
so a reason or an output could read differently from what it is ("Trojan Source")."""


def inert(text: str) -> str:
    """Escape control characters (ANSI escapes, CR, NUL, ...) so text cannot drive a terminal; keeps newlines.

    Bidi controls (U+202E RIGHT-TO-LEFT OVERRIDE, ...) become a visible escape (backslash, ``u202e``) so they
    cannot reorder what a terminal, an annotation, a job summary or a PR comment shows.
    """
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return _BIDI.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def excerpt(text: str, limit: int = 200) -> str:
    """``text`` made inert and cut to ``limit`` characters with a marker saying how much was cut."""
    text = inert(text)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more chars]"


def quote(text: str, limit: int = 80) -> str:
    """A one-line quoted excerpt for messages, newlines and backslashes escaped."""
    shown = excerpt(text.replace("\\", "\\\\").replace("\n", "\\n"), limit)
    return f"'{shown}'"


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> tuple[str, int]:
    r"""``text`` with every lone surrogate replaced by U+FFFD, and how many were replaced.

    JSON can carry a lone surrogate (``"\ud800"``); in a Python string it cannot be encoded as UTF-8, so the
    first report written to a file would fail. Paired surrogates never reach here: JSON decoding joins them.
    """
    if text.isascii():
        return text, 0
    return _SURROGATE.subn("\ufffd", text)
