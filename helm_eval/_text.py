"""Making untrusted text (model output, suite text) safe to show: control characters escaped, length capped."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def inert(text: str) -> str:
    """Escape control characters (ANSI escapes, CR, NUL, ...) so text cannot drive a terminal; keeps newlines."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


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
